//! Picks: how each block (`provider`, `node.location`, `node.hardware`, `node.image`) chooses
//! among its options, and the rule that keeps the blocks from contradicting each other.
//!
//! A price pick (`cheapest`, `priciest`) ranks whole offerings (provider, location, size and
//! image at once, since a price belongs to the combination), so one block's price pick decides
//! for all of them. Blocks may therefore combine a price pick only with `first` (which then
//! breaks ties); `cheapest` beside `priciest`, or `random` beside a price pick, is refused with
//! a located error instead of one of them being silently ignored.

use serde::Deserialize;

use super::Problem;
use super::locate::locate;

/// How to choose among options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pick {
    #[default]
    First,
    Random,
    Cheapest,
    Priciest,
}

impl Pick {
    /// Whether it ranks by price (`cheapest`, `priciest`).
    pub fn by_price(self) -> bool {
        matches!(self, Pick::Cheapest | Pick::Priciest)
    }

    /// As the strategy writes it.
    pub fn name(self) -> &'static str {
        match self {
            Pick::First => "first",
            Pick::Random => "random",
            Pick::Cheapest => "cheapest",
            Pick::Priciest => "priciest",
        }
    }
}

/// The blocks that pick, in the order placement nests them, for the node group at `group`
/// (`/node`, `/nodes/web`).
fn blocks(group: &str) -> [String; 4] {
    [
        "/provider".to_string(),
        format!("{group}/location"),
        format!("{group}/hardware"),
        format!("{group}/image"),
    ]
}

/// One block's pick in force, and where it is written.
struct InForce {
    block: String,
    pick: Pick,
    /// The block's own `pick`, or `/default_pick` when it has none.
    pointer: String,
}

/// The problems of picks that contradict the first price pick in block order: a price pick in
/// the other direction, or `random`. `own` holds each block's own pick, in [`blocks`] order,
/// for the node group at `group`.
pub(super) fn conflicts(
    text: &str,
    group: &str,
    own: [Option<Pick>; 4],
    default: Pick,
) -> Vec<Problem> {
    let picks: Vec<InForce> = blocks(group)
        .into_iter()
        .zip(own)
        .map(|(block, own)| InForce {
            pick: own.unwrap_or(default),
            pointer: match own {
                Some(_) => format!("{block}/pick"),
                None => "/default_pick".into(),
            },
            block,
        })
        .collect();
    let Some(anchor) = picks.iter().find(|p| p.pick.by_price()) else {
        return Vec::new();
    };
    let mut problems: Vec<Problem> = Vec::new();
    for clash in picks
        .iter()
        .filter(|p| p.pick != anchor.pick && (p.pick.by_price() || p.pick == Pick::Random))
    {
        if problems.iter().any(|p| p.pointer == clash.pointer) {
            continue; // several blocks inherit one default_pick
        }
        let what = match clash.pointer.as_str() {
            "/default_pick" => format!(
                "default_pick \"{}\" (in force at {}, which has no pick of its own)",
                clash.pick.name(),
                clash.block
            ),
            _ => format!("Pick \"{}\"", clash.pick.name()),
        };
        let (why, hint) = match clash.pick {
            Pick::Random => (
                "so \"random\" would have no effect".to_string(),
                "use \"first\" here (equal prices then keep option order), or drop the price pick to pick at random".to_string(),
            ),
            _ => (
                "so cheapest and priciest cannot both hold".to_string(),
                format!(
                    "use \"{}\" here too, or \"first\" (equal prices then keep option order)",
                    anchor.pick.name()
                ),
            ),
        };
        problems.push(Problem {
            position: locate(text, &clash.pointer, None),
            pointer: clash.pointer.clone(),
            message: format!(
                "{what} conflicts with \"{}\" at {}: a price pick ranks whole offerings (provider, location, size and image together), {why}.",
                anchor.pick.name(),
                anchor.pointer
            ),
            hint: Some(hint),
        });
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"{"default_pick": "x", "provider": {"pick": "x"},
        "node": {"location": {"pick": "x"}, "hardware": {"pick": "x"}, "image": {"pick": "x"}}}"#;

    fn clashes(own: [Option<Pick>; 4], default: Pick) -> Vec<String> {
        conflicts(TEXT, "/node", own, default)
            .into_iter()
            .map(|p| format!("{} {}", p.pointer, p.message))
            .collect()
    }

    #[test]
    fn agreeing_picks_pass() {
        use Pick::*;
        assert!(clashes([None; 4], Cheapest).is_empty());
        assert!(clashes([Some(First), None, Some(Cheapest), Some(Cheapest)], First).is_empty());
        assert!(clashes([Some(Random), Some(Random), None, None], First).is_empty());
    }

    #[test]
    fn a_block_against_the_default_is_located_at_the_block() {
        let found = clashes([None, None, Some(Pick::Cheapest), None], Pick::Priciest);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with(
                "/node/hardware/pick Pick \"cheapest\" conflicts with \"priciest\" at /default_pick"
            ),
            "{found:?}"
        );
    }

    #[test]
    fn a_default_against_a_block_is_located_once_at_the_default() {
        let found = clashes([None, None, Some(Pick::Cheapest), None], Pick::Random);
        assert_eq!(
            found,
            [
                "/default_pick default_pick \"random\" (in force at /provider, which has no pick of its own) conflicts with \"cheapest\" at /node/hardware/pick: a price pick ranks whole offerings (provider, location, size and image together), so \"random\" would have no effect."
            ]
        );
    }

    #[test]
    fn every_clashing_block_is_listed() {
        use Pick::*;
        let found = clashes(
            [Some(Cheapest), Some(Priciest), Some(Random), Some(First)],
            First,
        );
        let at: Vec<&str> = found.iter().map(|f| f.split(' ').next().unwrap()).collect();
        assert_eq!(at, ["/node/location/pick", "/node/hardware/pick"]);
    }
}
