//! Command-line arguments (clap), Terraform-shaped: `plan --out`, `apply PLAN`,
//! `--auto-approve`, `--parallelism`, `--target`, `--detailed-exitcode`, `--json`, and the
//! review formats `--markdown` and `--concise`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "oss",
    version,
    about = "Provision fleets of compute across clouds: plan, apply, destroy."
)]
pub struct Cli {
    /// Strategy file [default: ./strategy.json, else ./strategy.sample.json]
    #[arg(short, long, global = true, value_name = "FILE")]
    pub strategy: Option<PathBuf>,
    /// Where state lives.
    #[arg(long, global = true, value_name = "DIR", default_value = "state")]
    pub state_dir: PathBuf,
    /// Where state lives: `local` (files under --state-dir), `postgres`, `s3` [default: the
    /// strategy's `state` block, else local].
    #[arg(long, global = true, env = "OSS_BACKEND", value_parser = ["local", "postgres", "s3"])]
    pub backend: Option<String>,
    /// The backend's address: postgres://user@127.0.0.1:5432/db (its password is never
    /// printed) or s3://BUCKET/PREFIX?region=R[&endpoint=URL][&lock_table=TABLE].
    #[arg(
        long,
        global = true,
        env = "OSS_BACKEND_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub backend_url: Option<String>,
    /// How long to wait for the state lock (e.g. 30s, 5m); 0 fails at once.
    #[arg(long, global = true, value_name = "DURATION", default_value = "0s", value_parser = parse_duration)]
    pub lock_timeout: Duration,
    /// Set a strategy variable (repeatable; before OSS_VAR_NAME and the default).
    #[arg(long = "var", global = true, value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// The vault that `secret.NAME` references and `oss secrets` read.
    #[arg(
        long,
        global = true,
        env = "OSS_VAULT",
        value_name = "FILE",
        default_value = "secrets.oss.json"
    )]
    pub vault: PathBuf,
    /// A share of the vault's key (repeatable; before the paths in OSS_SHARES, which are
    /// separated by `:`).
    #[arg(long = "share", global = true, value_name = "FILE")]
    pub shares: Vec<PathBuf>,
    /// An age identity file that opens age-encrypted shares (repeatable).
    #[arg(long = "identity", global = true, value_name = "FILE")]
    pub identities: Vec<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the strategy against the schema, resolve env references, match offerings.
    Validate {
        /// Print the strategy JSON Schema and exit.
        #[arg(long)]
        print_schema: bool,
    },
    /// Show what apply would change.
    Plan(PlanArgs),
    /// Make the fleet match the strategy (or carry out a saved plan).
    Apply(ApplyArgs),
    /// Remove everything the state knows.
    Destroy(DestroyArgs),
    /// Show the state, or a saved plan.
    Show {
        /// A plan saved with `oss plan --out`.
        plan: Option<PathBuf>,
        #[command(flatten)]
        format: PlanFormat,
    },
    /// Print the desired resource graph as Graphviz DOT.
    Graph,
    /// The nodes in state as configuration tools read them (Ansible's dynamic-inventory
    /// protocol with --list / --host, a salt-ssh roster, a Bolt v2 inventory, a Fabric host
    /// list, Chef node JSON, ssh_config blocks, or JSON).
    Inventory {
        #[arg(long, default_value = "json", value_parser = crate::inventory::formats::Format::NAMES.to_vec())]
        format: String,
        /// Only the nodes of this group.
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
        /// Ansible's `--list` (the whole inventory; the default).
        #[arg(long, conflicts_with = "host")]
        list: bool,
        /// Ansible's `--host NAME`: one host's variables.
        #[arg(long, value_name = "NAME")]
        host: Option<String>,
    },
    /// A group's endpoints from state (address and port, DNS names), each probed now.
    Discover {
        group: String,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the strategy's outputs, evaluated over the state (or one of them).
    Output {
        /// One output; without it, every output as `NAME = VALUE`.
        name: Option<String>,
        /// As JSON: one value, or every output with its value, sensitivity and description.
        #[arg(long)]
        json: bool,
        /// One output's value bare (a string without quotes), for scripts.
        #[arg(long, conflicts_with = "json", requires = "name")]
        raw: bool,
    },
    /// List what the strategy's providers offer: sizes at locations, with prices.
    Catalog(CatalogArgs),
    /// Read and edit the state.
    #[command(subcommand)]
    State(StateCommand),
    /// Adopt an object that exists already (an EC2 instance id, a sim id, a local node id)
    /// as node ADDRESS, which the strategy defines and state does not hold yet.
    Import {
        address: String,
        id: String,
        /// The provider to read it from [default: each one the node may be placed at].
        #[arg(long, value_name = "NAME")]
        provider: Option<String>,
        /// Read and check it, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove a state lock left behind, given its id.
    ForceUnlock { lock_id: String },
    /// Probe every node of every group with a `health` block at its check's interval, print
    /// each up/down transition as a JSON line, record it in the health store, and replace
    /// nodes of groups with `auto_repair` that stay down (docs/monitor.md).
    Monitor(MonitorArgs),
    /// A node's logs through its provider (a local node's stderr and stdout files, an EC2
    /// instance's console output).
    Logs(LogsArgs),
    /// Serve the dashboard: the fleet, its nodes, history, cost and plans in a browser, and
    /// the same as JSON under /api/ (read-only; docs/serve.md).
    Serve(ServeArgs),
    /// The vault of secrets that `secret.NAME` references read (k of n shares unlock it).
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Unlock the vault once: an agent keeps its data key in memory (0600 Unix socket) until
    /// the TTL ends or `oss lock`.
    Unlock {
        /// How long the agent keeps the key (e.g. 30m, 8h).
        #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_duration)]
        ttl: Duration,
    },
    /// End the unlock agent of the vault.
    Lock,
    /// The unlock agent itself (started by `oss unlock`; reads the key from stdin).
    #[command(name = "unlock-agent", hide = true)]
    UnlockAgent {
        #[arg(long)]
        vault_id: String,
        #[arg(long)]
        key_id: String,
        #[arg(long, value_parser = parse_duration)]
        ttl: Duration,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Create the vault (safe to commit) and write each share of its key to its own file.
    Init(DealArgs),
    /// Set secret NAME to the value read from stdin (one trailing newline dropped).
    Set { name: String },
    /// The secrets' names (never their values).
    List,
    /// Remove secret NAME.
    Rm { name: String },
    /// New shares for the same secrets; the old shares stop working.
    Rekey(DealArgs),
    /// A new data key: every secret encrypted again (the shares stay valid).
    Rotate,
}

#[derive(Debug, Args)]
pub struct DealArgs {
    /// How many shares to make.
    #[arg(long = "shares", value_name = "N")]
    pub count: u8,
    /// How many shares unlock the vault.
    #[arg(long, value_name = "K")]
    pub threshold: u8,
    /// The directory the share files are written to (0700; files 0600).
    #[arg(long, value_name = "DIR", default_value = "shares")]
    pub out: PathBuf,
    /// Encrypt share i to the i-th age public key given (`age1...`; one per share, in order).
    #[arg(long = "recipient", value_name = "AGE_KEY")]
    pub recipients: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen. Anything but a loopback address needs --token-file.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:7878")]
    pub listen: std::net::SocketAddr,
    /// A file (mode 0600) whose first line is the token every request must carry.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// How often the state is read again for live apply progress (e.g. 1s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub poll: Duration,
    /// A plan saved with `oss plan --out` to show on the Plans page (repeatable).
    #[arg(long = "plan", value_name = "FILE")]
    pub plans: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Stop once every node has a verdict (up or down; a node that flaps is left unknown after
    /// both thresholds' worth of probes) and no repair is under way; exit 1 if any is down.
    #[arg(long, conflicts_with = "for_")]
    pub once: bool,
    /// Stop after this long (e.g. 30s, 10m) [default: until Ctrl-C or SIGTERM].
    #[arg(long = "for", id = "for_", value_name = "DURATION", value_parser = parse_duration)]
    pub for_: Option<Duration>,
    /// Report nodes that stay down without replacing them, whatever `auto_repair` says.
    #[arg(long)]
    pub no_repair: bool,
    /// At most this many probes in flight at once.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub concurrency: u32,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The node's address, e.g. node.web[0].
    pub address: String,
    /// Keep printing new lines until Ctrl-C or SIGTERM.
    #[arg(short, long)]
    pub follow: bool,
    /// Only lines stamped within this long before now (e.g. 10m, 1h); see docs/monitor.md.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<Duration>,
    /// How many of the last lines of each stream to show first.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub tail: usize,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List resource addresses.
    List,
    /// Show one resource.
    Show { address: String },
    /// Print the stored state document (or an earlier version) exactly as stored.
    Pull {
        /// An earlier version (see `oss state versions`).
        #[arg(long)]
        serial: Option<u64>,
    },
    /// Store a state document as the next version (refused if its lineage differs or its
    /// serial is not newer, unless --force).
    Push {
        file: PathBuf,
        #[arg(long)]
        force: bool,
    },
    /// Forget resources without destroying them (addresses, or groups like `node.web`).
    Rm {
        #[arg(required = true)]
        addresses: Vec<String>,
        /// Show what would be forgotten, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Rename a node (`node.web[0]` `node.web[4]`) or a group (`node.web` `node.frontend`).
    Mv {
        from: String,
        to: String,
        /// Show what would be renamed, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// List the stored versions of the state.
    Versions {
        #[arg(long)]
        json: bool,
    },
    /// Copy the state to another backend, verify the copy, and leave the source as it is.
    Migrate {
        /// The backend to copy to (`local` uses --state-dir).
        #[arg(long, value_parser = ["local", "postgres", "s3"])]
        to: String,
        /// Its address (for postgres and s3).
        #[arg(
            long,
            value_name = "URL",
            env = "OSS_MIGRATE_TO_URL",
            hide_env_values = true
        )]
        to_url: Option<String>,
        /// Where a local target keeps its files [default: --state-dir].
        #[arg(long, value_name = "DIR")]
        to_state_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args, Clone, Default)]
pub struct PlanScope {
    /// Plan only this address (or prefix such as `node.web`); repeatable.
    #[arg(long, value_name = "ADDR")]
    pub target: Vec<String>,
    /// Leave this address (or prefix) out; repeatable.
    #[arg(long, value_name = "ADDR")]
    pub exclude: Vec<String>,
    /// Replace this resource (or every one under a prefix) even if nothing about it changed;
    /// repeatable.
    #[arg(long, value_name = "ADDR")]
    pub replace: Vec<String>,
    /// Ask providers what really exists first (`--refresh=false` to skip).
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub refresh: bool,
    /// Seed for `random` picks [default: the one in state, else new].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Place every node afresh: may move nodes to cheaper places (the plan shows the saving).
    #[arg(long)]
    pub rebalance: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub scope: PlanScope,
    /// Save the plan to FILE for `oss apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub format: PlanFormat,
    /// Exit 0 with no changes, 2 with changes, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// How a plan is printed: one of the flags, or the text plan.
#[derive(Debug, Args, Clone, Copy, Default)]
pub struct PlanFormat {
    /// Print as JSON: the plan document (docs/plan-json.md), or `show`'s state.
    #[arg(long, conflicts_with_all = ["markdown", "concise"])]
    pub json: bool,
    /// Print the plan as markdown for a pull-request comment: summary, table, collapsed diffs,
    /// at most 65,000 characters (diffs are cut first, the summary never).
    #[arg(long, conflicts_with = "concise")]
    pub markdown: bool,
    /// Print one line per changed resource, without attributes.
    #[arg(long)]
    pub concise: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Markdown,
    Concise,
}

impl PlanFormat {
    pub fn format(self) -> Format {
        match (self.json, self.markdown, self.concise) {
            (true, _, _) => Format::Json,
            (_, true, _) => Format::Markdown,
            (_, _, true) => Format::Concise,
            _ => Format::Text,
        }
    }
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved with `oss plan --out`.
    pub plan: Option<PathBuf>,
    #[command(flatten)]
    pub scope: PlanScope,
    /// Apply without asking.
    #[arg(long)]
    pub auto_approve: bool,
    /// How many steps run at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub parallelism: u32,
    /// Do not run the strategy's hand_off command after the apply.
    #[arg(long)]
    pub no_hand_off: bool,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Destroy without asking.
    #[arg(long)]
    pub auto_approve: bool,
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub parallelism: u32,
    /// Destroy only this address (or prefix); repeatable.
    #[arg(long, value_name = "ADDR")]
    pub target: Vec<String>,
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub refresh: bool,
}

pub use crate::duration::parse_duration;

/// An amount of memory in GiB: a finite number, 0 or more (`nan` would match nothing).
pub fn parse_gib(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "`{}` is not an amount of memory in GiB such as 4 or 0.5",
            crate::echo::Echo(text)
        )),
    }
}

#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// Only this provider (its name in the strategy).
    #[arg(long)]
    pub provider: Option<String>,
    /// Only sizes with at least N vCPUs.
    #[arg(long, value_name = "N")]
    pub min_vcpus: Option<u32>,
    /// Only sizes with at least this much memory.
    #[arg(long, value_name = "GiB", value_parser = parse_gib)]
    pub min_memory: Option<f64>,
    /// Only locations whose id or region starts with L (e.g. `ap-southeast-2`).
    #[arg(long, value_name = "L")]
    pub location: Option<String>,
    /// Sort by `price` (cheapest first) instead of provider, location and size.
    #[arg(long, value_parser = ["price"])]
    pub sort: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// `NAME=VALUE` of `--var`.
fn parse_var(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!(
            "expected NAME=VALUE, e.g. --var web_count=3, found {}",
            crate::echo::Echo(text)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_duration_text_panics() {
        let huge = "9".repeat(400);
        for text in [
            "99999999999999999999h",
            "8761h",
            huge.as_str(),
            "1e400",
            "-1s",
            "nan",
            "inf",
            ".",
            "",
            "1.2.3s",
            "5 m",
            "\u{0}",
        ] {
            assert!(parse_duration(text).is_err(), "{text:?} was accepted");
        }
        for text in ["nan", "inf", "-1", "1e309", "", "4GiB"] {
            assert!(parse_gib(text).is_err(), "{text:?} was accepted");
        }
        assert_eq!(parse_gib("0.5"), Ok(0.5));
        let message = parse_duration(&format!("{huge}x")).unwrap_err();
        assert!(message.len() < 600, "the value is echoed whole: {message}");
    }
}
