//! Matching: every option of every block (`location`, `hardware`, `image`) against every
//! provider's catalog, giving each provider its matched offerings in preference order. An
//! option that matches nothing anywhere is a located error listing the closest offerings.
//!
//! Pure: reads catalogs, never ranks by price or allocates.

use serde_json::Value;

use super::Input;
use super::filter::{Filter, distance_km};
use crate::strategy::{Choice, Problem, StrategyError};

/// Matched offerings of one provider, in preference order, per block.
pub(super) struct Matched {
    pub locations: Vec<usize>,
    /// Size index and the price bound of the option that matched it.
    pub sizes: Vec<(usize, Option<f64>)>,
    pub images: Vec<usize>,
}

/// Matches every option of every block against every provider; an option that matches
/// nothing anywhere is a located error listing the closest offerings.
pub(super) fn match_options(input: &Input<'_>) -> Result<Vec<Matched>, StrategyError> {
    let strategy = input.strategy;
    let spec = &input.group.spec;
    let mut matched: Vec<Matched> = input
        .catalogs
        .iter()
        .map(|_| Matched {
            locations: Vec::new(),
            sizes: Vec::new(),
            images: Vec::new(),
        })
        .collect();
    let mut problems = Vec::new();
    let blocks: [(&str, &Choice); 3] = [
        ("location", &spec.location),
        ("hardware", &spec.hardware),
        ("image", &spec.image),
    ];
    for (block, choice) in blocks {
        for (o, option) in choice.options.iter().enumerate() {
            let filter = Filter::new(option);
            let mut any = false;
            for (p, (_, catalog)) in input.catalogs.iter().enumerate() {
                let found = match block {
                    "location" => {
                        let mut found: Vec<usize> = (0..catalog.locations.len())
                            .filter(|&l| filter.location_misses(&catalog.locations[l]) == 0)
                            .collect();
                        if let Some(point) = filter.near() {
                            let km = |l: &usize| distance_km(point, &catalog.locations[*l]);
                            found.sort_by(|a, b| km(a).total_cmp(&km(b)));
                        }
                        push_new(&mut matched[p].locations, found)
                    }
                    "hardware" => {
                        // Smallest fitting size first.
                        let mut found: Vec<usize> = (0..catalog.sizes.len())
                            .filter(|&s| filter.size_misses(&catalog.sizes[s]) == 0)
                            .collect();
                        let key = |s: &usize| {
                            let size = &catalog.sizes[*s];
                            (size.vcpus, size.memory_gib, size.id.clone())
                        };
                        found.sort_by(|a, b| {
                            key(a)
                                .partial_cmp(&key(b))
                                .unwrap_or(std::cmp::Ordering::Equal)
                        });
                        let bound = filter.max_hourly_price();
                        let before = matched[p].sizes.len();
                        for s in found {
                            if !matched[p].sizes.iter().any(|(have, _)| *have == s) {
                                matched[p].sizes.push((s, bound));
                            }
                        }
                        matched[p].sizes.len() > before
                            || catalog.sizes.iter().any(|s| filter.size_misses(s) == 0)
                    }
                    _ => {
                        let found = (0..catalog.images.len())
                            .filter(|&i| filter.image_misses(&catalog.images[i]) == 0)
                            .collect();
                        push_new(&mut matched[p].images, found)
                    }
                };
                any |= found;
            }
            if !any {
                problems.push(no_match(input, block, o, option));
            }
        }
    }
    if problems.is_empty() {
        Ok(matched)
    } else {
        Err(strategy.invalid(problems))
    }
}

/// Appends what is not there yet; true when `found` was not empty.
fn push_new(list: &mut Vec<usize>, found: Vec<usize>) -> bool {
    let any = !found.is_empty();
    for f in found {
        if !list.contains(&f) {
            list.push(f);
        }
    }
    any
}

fn no_match(
    input: &Input<'_>,
    block: &str,
    o: usize,
    option: &serde_json::Map<String, Value>,
) -> Problem {
    let filter = Filter::new(option);
    // The closest offerings: fewest failed conditions, then by name.
    let mut near: Vec<(usize, String)> = Vec::new();
    for (provider, catalog) in input.catalogs {
        match block {
            "location" => near.extend(catalog.locations.iter().map(|l| {
                let what = format!(
                    "{provider} {} ({}, {}, {})",
                    l.id, l.region, l.country, l.continent
                );
                (filter.location_misses(l), what)
            })),
            "hardware" => near.extend(catalog.sizes.iter().map(|s| {
                let disk = match s.disk_gib {
                    0 => String::new(),
                    gib => format!(", {gib} GiB disk"),
                };
                let what = format!(
                    "{provider} {} ({} vCPU, {} GiB{disk}, {})",
                    s.id, s.vcpus, s.memory_gib, s.arch
                );
                (filter.size_misses(s), what)
            })),
            _ => near.extend(catalog.images.iter().map(|i| {
                let what = format!("{provider} {} ({} {}, {})", i.id, i.os, i.version, i.arch);
                (filter.image_misses(i), what)
            })),
        }
    }
    near.sort();
    let closest: Vec<String> = near.into_iter().take(5).map(|(_, w)| w).collect();
    let providers: Vec<&str> = input.catalogs.iter().map(|(n, _)| *n).collect();
    let kind = match block {
        "location" => "locations",
        "hardware" => "sizes",
        _ => "images",
    };
    let hint = if closest.is_empty() {
        format!(
            "{} offer no {kind} at all: check the provider settings (regions, catalog); see `oss catalog`",
            providers.join(", ")
        )
    } else {
        format!("closest: {}; see `oss catalog`", closest.join("; "))
    };
    let pointer = format!("{}/options/{o}", input.group.block_pointer(block));
    let mut shown = Value::Object(option.clone()).to_string();
    // A hardware string is shown as written, with what it was read as.
    if let Some(written) = crate::strategy::locate::value_text(&input.strategy.text, &pointer)
        .filter(|w| w.starts_with('"'))
    {
        shown = format!("{written} (read as {shown})");
    }
    if shown.len() > 120 {
        shown = format!("{}…", &shown[..shown.floor_char_boundary(120)]);
    }
    input.strategy.problem(
        &pointer,
        format!("No offering of {} matches {shown}.", providers.join(", ")),
        Some(hint),
    )
}
