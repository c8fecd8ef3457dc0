//! The land of the world map as one SVG path, decoded once from the vendored TopoJSON
//! (`assets/world/land-110m.json`, Natural Earth 1:110m; see its README): arcs are delta-
//! encoded quantized positions, rings are lists of arc indices (`!i` for arc `i` reversed),
//! and each point is projected by the caller's equirectangular `project`.

use std::sync::OnceLock;

use serde::Deserialize;

const LAND: &str = include_str!("../assets/world/land-110m.json");

#[derive(Deserialize)]
struct Topology {
    transform: Transform,
    arcs: Vec<Vec<[i64; 2]>>,
    objects: Objects,
}

#[derive(Deserialize)]
struct Transform {
    scale: [f64; 2],
    translate: [f64; 2],
}

#[derive(Deserialize)]
struct Objects {
    land: Collection,
}

#[derive(Deserialize)]
struct Collection {
    geometries: Vec<Geometry>,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum Geometry {
    Polygon { arcs: Vec<Vec<i64>> },
    MultiPolygon { arcs: Vec<Vec<Vec<i64>>> },
}

/// The land's path data (`M x y L … Z` per ring), projected by `project` (longitude,
/// latitude → x, y); computed on first use.
pub fn land_path(project: fn(f64, f64) -> (f64, f64)) -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| decode(LAND, project).unwrap_or_default())
}

fn decode(text: &str, project: fn(f64, f64) -> (f64, f64)) -> Option<String> {
    let topology: Topology = serde_json::from_str(text).ok()?;
    let [sx, sy] = topology.transform.scale;
    let [tx, ty] = topology.transform.translate;
    // Every arc in longitude and latitude.
    let arcs: Vec<Vec<(f64, f64)>> = topology
        .arcs
        .iter()
        .map(|arc| {
            let (mut x, mut y) = (0i64, 0i64);
            arc.iter()
                .map(|[dx, dy]| {
                    x += dx;
                    y += dy;
                    (x as f64 * sx + tx, y as f64 * sy + ty)
                })
                .collect()
        })
        .collect();
    let rings = topology
        .objects
        .land
        .geometries
        .into_iter()
        .flat_map(|g| match g {
            Geometry::Polygon { arcs } => arcs,
            Geometry::MultiPolygon { arcs } => arcs.into_iter().flatten().collect(),
        });
    let mut path = String::new();
    for ring in rings {
        let mut points: Vec<(f64, f64)> = Vec::new();
        for index in ring {
            let (arc, reversed) = match index {
                i if i >= 0 => (arcs.get(i as usize)?, false),
                i => (arcs.get(!i as usize)?, true),
            };
            let mut part: Vec<(f64, f64)> = arc.clone();
            if reversed {
                part.reverse();
            }
            // Each arc starts where the one before ended.
            let skip = usize::from(!points.is_empty());
            points.extend(part.into_iter().skip(skip));
        }
        // A ring across the antimeridian (Fiji, Chukotka) jumps from 180 to -180: made
        // continuous past 180, and drawn once more a world to the other side, the SVG's edge
        // cutting both.
        let mut previous: Option<f64> = None;
        for point in points.iter_mut() {
            if let Some(before) = previous {
                while point.0 - before > 180.0 {
                    point.0 -= 360.0;
                }
                while before - point.0 > 180.0 {
                    point.0 += 360.0;
                }
            }
            previous = Some(point.0);
        }
        let west = points.iter().any(|p| p.0 < -180.0);
        let east = points.iter().any(|p| p.0 > 180.0);
        let shifts = [(0.0, true), (360.0, west), (-360.0, east)];
        for (shift, wanted) in shifts {
            if !wanted || points.is_empty() {
                continue;
            }
            for (i, (lon, lat)) in points.iter().enumerate() {
                let (x, y) = project(lon + shift, *lat);
                path.push_str(&format!("{}{x:.1} {y:.1}", if i == 0 { "M" } else { "L" }));
            }
            path.push('Z');
        }
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(lon: f64, lat: f64) -> (f64, f64) {
        (lon, lat)
    }

    #[test]
    fn arcs_join_into_rings_reversed_where_asked() {
        // Two arcs from (0,0): one to (2,0) then (2,2), one from (0,2) to (2,2) read backwards.
        let text = r#"{"transform": {"scale": [1, 1], "translate": [0, 0]},
            "arcs": [[[0, 0], [2, 0], [0, 2]], [[0, 2], [2, 0]]],
            "objects": {"land": {"geometries": [{"type": "Polygon", "arcs": [[0, -2]]}]}}}"#;
        assert_eq!(
            decode(text, plain).unwrap(),
            "M0.0 0.0L2.0 0.0L2.0 2.0L0.0 2.0Z"
        );
    }

    #[test]
    fn the_vendored_land_decodes_into_rings_without_a_jump_across_the_world() {
        let path = decode(LAND, plain).unwrap();
        assert!(
            path.matches('Z').count() > 100,
            "rings: {}",
            path.matches('Z').count()
        );
        for ring in path.split('Z').filter(|r| !r.is_empty()) {
            let xs: Vec<f64> = ring
                .split(['M', 'L'])
                .filter(|p| !p.is_empty())
                .map(|p| p.split(' ').next().unwrap().parse().unwrap())
                .collect();
            for pair in xs.windows(2) {
                assert!((pair[1] - pair[0]).abs() < 180.0, "{pair:?}");
            }
        }
    }
}
