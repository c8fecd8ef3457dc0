//! The world map of the Fleet page: an SVG drawn from data, offline. Equirectangular: the
//! land (Natural Earth, vendored: [`super::world`]), the graticule every 30°, the equator, and
//! one circle per provider location with nodes, placed
//! by the catalog's latitude and longitude and sized by its node count. Locations without
//! coordinates (the `local` provider's) are listed under it instead.

use maud::{Markup, html};

use crate::serve::fleet::Point;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 360.0;

fn x(longitude: f64) -> f64 {
    (longitude.clamp(-180.0, 180.0) + 180.0) / 360.0 * WIDTH
}

fn y(latitude: f64) -> f64 {
    (90.0 - latitude.clamp(-90.0, 90.0)) / 180.0 * HEIGHT
}

/// For the land: not clamped, so a ring continued past 180° runs off the edge.
fn project(longitude: f64, latitude: f64) -> (f64, f64) {
    (
        (longitude + 180.0) / 360.0 * WIDTH,
        (90.0 - latitude) / 180.0 * HEIGHT,
    )
}

pub fn render(points: &[Point], catalog_error: Option<&str>) -> Markup {
    let placed: Vec<&Point> = points.iter().filter(|p| p.latitude.is_some()).collect();
    let unplaced: Vec<&Point> = points.iter().filter(|p| p.latitude.is_none()).collect();
    let label = format!(
        "World map: {} location(s) with nodes placed by their coordinates",
        placed.len()
    );
    html! {
        figure.map {
            svg id="map" viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(label)
                xmlns="http://www.w3.org/2000/svg" {
                rect.sea x="0" y="0" width=(WIDTH) height=(HEIGHT) {}
                path.land fill-rule="evenodd" d=(super::world::land_path(project)) {}
                @for lon in (-150..=150).step_by(30) {
                    line.grid x1=(x(lon as f64)) y1="0" x2=(x(lon as f64)) y2=(HEIGHT) {}
                }
                @for lat in (-60..=60).step_by(30) {
                    line.grid.equator[lat == 0] x1="0" y1=(y(lat as f64)) x2=(WIDTH) y2=(y(lat as f64)) {}
                }
                @for p in &placed {
                    @let (lat, lon) = (p.latitude.unwrap_or(0.0), p.longitude.unwrap_or(0.0));
                    g.point data-location=(format!("{}/{}", p.provider, p.location)) {
                        circle cx=(format!("{:.1}", x(lon))) cy=(format!("{:.1}", y(lat)))
                            r=(format!("{:.1}", 4.0 + (p.nodes as f64).sqrt() * 2.0)) {
                            title { (p.name) " (" (p.provider) "/" (p.location) "): " (p.nodes) " node(s)" }
                        }
                        text x=(format!("{:.1}", x(lon) + 8.0)) y=(format!("{:.1}", y(lat) + 4.0)) {
                            (p.location) " " (p.nodes)
                        }
                    }
                }
            }
            figcaption {
                @if placed.is_empty() { "No node has a location with coordinates. " }
                @if !unplaced.is_empty() {
                    "Without coordinates: "
                    @for (i, p) in unplaced.iter().enumerate() {
                        @if i > 0 { ", " }
                        (p.provider) "/" (p.location) " (" (p.nodes) ")"
                    }
                    "."
                }
                @if let Some(error) = catalog_error {
                    " The catalogs could not be read: " (error)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corners_and_centre_land_where_they_should() {
        assert_eq!((x(-180.0), y(90.0)), (0.0, 0.0));
        assert_eq!((x(180.0), y(-90.0)), (WIDTH, HEIGHT));
        assert_eq!((x(0.0), y(0.0)), (WIDTH / 2.0, HEIGHT / 2.0));
        assert_eq!(x(999.0), WIDTH);
    }
}
