//! `oss catalog`: the offerings of the strategy's providers as a table (or JSON), filtered and
//! sorted, with where each provider's prices come from.

use serde_json::json;

use super::super::args::{CatalogArgs, Cli};
use super::super::failure::{self, ExitStatus, Failure};
use super::super::output::outln;
use super::super::session::{self, Secrets};
use crate::catalog::{Catalog, HOURS_PER_MONTH};

struct Row<'a> {
    provider: &'a str,
    catalog: &'a Catalog,
    location: usize,
    size: usize,
    price: &'a crate::catalog::Price,
}

pub async fn run(
    cli: &Cli,
    args: &CatalogArgs,
    secrets: &mut Secrets,
) -> Result<ExitStatus, Failure> {
    let session = session::open(cli, secrets).await?;
    let catalogs = session.catalogs().await.map_err(failure::engine)?;
    print(&catalogs, args)
}

fn print(catalogs: &[(String, Catalog)], args: &CatalogArgs) -> Result<ExitStatus, Failure> {
    if let Some(p) = &args.provider
        && !catalogs.iter().any(|(name, _)| name == p)
    {
        let names: Vec<&str> = catalogs.iter().map(|(n, _)| n.as_str()).collect();
        return Err(Failure::user(
            format!(
                "The strategy has no provider named `{}`",
                crate::echo::Echo(p)
            ),
            format!("its providers: {}", names.join(", ")),
        ));
    }
    let mut rows: Vec<Row<'_>> = Vec::new();
    for (provider, catalog) in catalogs {
        if args.provider.as_ref().is_some_and(|p| p != provider) {
            continue;
        }
        for price in &catalog.prices {
            let Some(location) = catalog
                .locations
                .iter()
                .position(|l| l.id == price.location)
            else {
                continue;
            };
            let Some(size) = catalog.sizes.iter().position(|s| s.id == price.size) else {
                continue;
            };
            let (l, s) = (&catalog.locations[location], &catalog.sizes[size]);
            let keep = args.min_vcpus.is_none_or(|n| s.vcpus >= n)
                && args.min_memory.is_none_or(|m| s.memory_gib >= m)
                && args.location.as_ref().is_none_or(|want| {
                    l.id.starts_with(want.as_str()) || l.region.starts_with(want.as_str())
                });
            if keep {
                rows.push(Row {
                    provider,
                    catalog,
                    location,
                    size,
                    price,
                });
            }
        }
    }
    if args.sort.is_some() {
        rows.sort_by(|a, b| a.price.hourly_price.total_cmp(&b.price.hourly_price));
    }
    if args.json {
        let list: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "provider": r.provider,
                    "location": r.catalog.locations[r.location],
                    "size": r.catalog.sizes[r.size],
                    "hourly_price": r.price.hourly_price,
                    "monthly_price": r.price.hourly_price * HOURS_PER_MONTH,
                    "currency": r.price.currency,
                    "capacity": r.price.capacity,
                })
            })
            .collect();
        let sources: serde_json::Map<String, serde_json::Value> = catalogs
            .iter()
            .map(|(n, c)| (n.clone(), json!({"source": c.source, "images": c.images})))
            .collect();
        let doc = json!({"providers": sources, "offerings": list});
        outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(ExitStatus::Success);
    }
    for (name, catalog) in catalogs {
        if args.provider.as_ref().is_none_or(|p| p == name) {
            let images: Vec<&str> = catalog.images.iter().map(|i| i.id.as_str()).collect();
            outln!(
                "{name}: prices from {}; images: {}",
                catalog.source.as_deref().unwrap_or("the provider"),
                images.join(", ")
            );
        }
    }
    outln!();
    let header = [
        "PROVIDER",
        "LOCATION",
        "REGION",
        "COUNTRY",
        "SIZE",
        "VCPUS",
        "MEMORY GiB",
        "ARCH",
        "$/HOUR",
        "$/MONTH",
        "CAPACITY",
    ];
    let cells: Vec<[String; 11]> = rows
        .iter()
        .map(|r| {
            let (l, s) = (&r.catalog.locations[r.location], &r.catalog.sizes[r.size]);
            [
                r.provider.to_string(),
                l.id.clone(),
                l.region.clone(),
                l.country.clone(),
                s.id.clone(),
                s.vcpus.to_string(),
                format!("{}", s.memory_gib),
                s.arch.clone(),
                format!("{:.4}", r.price.hourly_price),
                format!("{:.2}", r.price.hourly_price * HOURS_PER_MONTH),
                r.price.capacity.map_or("-".into(), |c| c.to_string()),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            // Numbers right-aligned, text left-aligned.
            .map(|(i, (c, w))| {
                if (5..=10).contains(&i) && i != 7 {
                    format!("{c:>w$}")
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect();
        outln!("{}", parts.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in &cells {
        line(row.iter().map(String::as_str).collect());
    }
    outln!("\n{} offering(s).", cells.len());
    Ok(ExitStatus::Success)
}
