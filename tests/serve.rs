//! `oss serve`: the dashboard in a real headless Chromium (Debian's, over chromedriver), and
//! its HTTP rules without a browser. Screenshots go to target/tmp/serve-screenshots/.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::Project;
use common::browser::Browser;
use common::prometheus::Prometheus;
use common::serve::Served;
use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::Value;

/// The sample fleet with a node command that logs a line, then takes `delay` seconds to
/// answer (so an apply of a few nodes one at a time lasts long enough to be watched).
fn slow_sample(count: usize, delay: u32) -> Value {
    let mut strategy: Value =
        serde_json::from_str(include_str!("../strategy.sample.json")).unwrap();
    let command = strategy["node"]["command"].as_str().unwrap().to_string();
    strategy["node"]["count"] = count.into();
    strategy["node"]["command"] =
        format!("echo \"oss-log-line from $OSS_NODE_NAME\"; sleep {delay}; {command}").into();
    strategy
}

async fn text(b: &Browser, css: &str) -> String {
    b.client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn count(b: &Browser, css: &str) -> usize {
    b.client.find_all(Locator::Css(css)).await.unwrap().len()
}

/// Waits up to `timeout` for `css` to match; whether it did.
async fn appears(b: &Browser, css: &str, timeout: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if count(b, css).await > 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_page_shows_the_right_counts_totals_and_map() {
    let mut strategy = common::sim_example("cheapest-across-providers.json");
    strategy["node"]["count"] = 3.into();
    let p = Project::with_strategy(&strategy);
    p.ok(&["apply", "--auto-approve"]);
    let state = p.state("cheapest");
    let resources = state["resources"].as_array().unwrap();
    let nodes = resources.iter().filter(|r| r["kind"] == "node").count();
    let monthly: f64 = resources
        .iter()
        .map(|r| r["placement"]["hourly_price"].as_f64().unwrap() * 730.0)
        .sum();
    let places: BTreeSet<String> = resources
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["placement"]["provider"], r["placement"]["location"]
            )
        })
        .collect();
    assert_eq!(nodes, 3);
    assert!(monthly > 0.0, "the sim prices its sizes");

    let served = Served::start(&p, &[]);
    let b = Browser::start("fleet").await;
    b.client.goto(&served.url("/")).await.unwrap();
    assert_eq!(text(&b, "#total-nodes").await, "3");
    assert_eq!(
        text(&b, "#total-monthly").await,
        format!("{monthly:.2} USD")
    );
    assert_eq!(count(&b, "#fleet-rows tr").await, resources.len());
    assert_eq!(count(&b, "#map g.point").await, places.len());
    for r in resources {
        let address = r["address"].as_str().unwrap();
        let row = format!("#fleet-rows tr[data-address=\"{address}\"]");
        assert!(
            text(&b, &row)
                .await
                .contains(r["placement"]["location"].as_str().unwrap())
        );
    }
    // The keyboard: the first Tab reaches the skip link, Enter moves to the content.
    b.client
        .active_element()
        .await
        .unwrap()
        .send_keys(&Key::Tab.to_string())
        .await
        .unwrap();
    let focused = b.client.active_element().await.unwrap();
    assert_eq!(focused.text().await.unwrap(), "Skip to content");
    b.screenshot("fleet").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_created_during_an_apply_appears_without_a_reload_and_its_page_shows_its_logs() {
    let p = Project::with_strategy(&slow_sample(1, 2));
    p.ok(&["apply", "--auto-approve"]);
    let served = Served::start(&p, &[]);
    let b = Browser::start("live").await;
    b.client.goto(&served.url("/")).await.unwrap();
    assert_eq!(count(&b, "#fleet-rows tr").await, 1);
    // Set on this page load: a reload would lose it.
    b.client
        .execute(
            "window.ossMarker = 'still the same page'; return null;",
            vec![],
        )
        .await
        .unwrap();

    p.write_strategy(&slow_sample(3, 2));
    let mut apply = p
        .oss()
        .args(["apply", "--auto-approve", "--parallelism", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let second = "#fleet-rows tr[data-address=\"node.web[1]\"]";
    assert!(
        appears(&b, second, Duration::from_secs(30)).await,
        "node.web[1] never appeared"
    );
    // It appeared while the apply was still running (node.web[2] takes 2 s more).
    assert!(
        apply.try_wait().unwrap().is_none(),
        "the apply ended before the row appeared"
    );
    b.screenshot("live-during-apply").await;
    let status = apply.wait().unwrap();
    assert!(status.success());
    let third = "#fleet-rows tr[data-address=\"node.web[2]\"]";
    assert!(
        appears(&b, third, Duration::from_secs(10)).await,
        "node.web[2] never appeared"
    );
    assert_eq!(text(&b, "#total-nodes").await, "3");
    let marker = b
        .client
        .execute("return window.ossMarker || null;", vec![])
        .await
        .unwrap();
    assert_eq!(
        marker,
        Value::from("still the same page"),
        "the page was reloaded"
    );

    // The node page, reached with the keyboard: its logs show the line the command wrote.
    let link = b
        .client
        .find(Locator::Css(&format!("{third} a")))
        .await
        .unwrap();
    link.send_keys(&Key::Enter.to_string()).await.unwrap();
    assert!(appears(&b, "pre.log[data-stream=stdout]", Duration::from_secs(10)).await);
    assert_eq!(text(&b, "h1").await, "node.web[2]");
    let log = text(&b, "pre.log[data-stream=stdout]").await;
    assert!(log.contains("oss-log-line from web-2"), "{log}");
    b.screenshot("node-logs").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_diff_of_two_versions_shows_what_changed() {
    let p = Project::with_strategy(&slow_sample(1, 0));
    p.ok(&["apply", "--auto-approve"]);
    let before: Value = serde_json::from_str(&p.ok(&["state", "versions", "--json"])).unwrap();
    let from = before.as_array().unwrap().last().unwrap()["serial"]
        .as_u64()
        .unwrap();
    p.write_strategy(&slow_sample(2, 0));
    p.ok(&["apply", "--auto-approve"]);
    let after: Value = serde_json::from_str(&p.ok(&["state", "versions", "--json"])).unwrap();
    let to = after.as_array().unwrap().last().unwrap()["serial"]
        .as_u64()
        .unwrap();
    assert!(to > from);

    let served = Served::start(&p, &[]);
    let b = Browser::start("history").await;
    b.client.goto(&served.url("/history")).await.unwrap();
    assert_eq!(
        count(&b, "#versions tbody tr").await,
        after.as_array().unwrap().len()
    );
    b.screenshot("history").await;
    for (id, serial) in [("from", from), ("to", to)] {
        let select = b.client.find(Locator::Id(id)).await.unwrap();
        select.select_by_value(&serial.to_string()).await.unwrap();
    }
    // Submitted from the keyboard.
    let button = b
        .client
        .find(Locator::Css("form.diff button"))
        .await
        .unwrap();
    button.send_keys(&Key::Enter.to_string()).await.unwrap();
    assert!(appears(&b, "#diff-summary", Duration::from_secs(10)).await);
    let summary = text(&b, "#diff-summary").await;
    assert!(
        summary.starts_with("1 added, 0 changed, 0 removed"),
        "{summary}"
    );
    assert_eq!(text(&b, "#added").await, "node.web[1]");
    let lines = text(&b, "pre.diff").await;
    assert!(
        lines.contains("+      \"address\": \"node.web[1]\""),
        "{lines}"
    );
    b.screenshot("history-diff").await;
    b.close().await;
}

#[test]
fn beyond_loopback_a_token_is_required_and_checked() {
    let p = Project::sample(1);
    let (code, _, err) = p.run(&["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("Refusing to listen on 0.0.0.0:0: it is not a loopback address and no --token-file was given"),
        "{err}"
    );
    assert!(err.contains("hint: listen on 127.0.0.1"), "{err}");

    // A token file others may read is refused, and so is an empty one.
    let token = p.path("token");
    std::fs::write(&token, "tok-3d8f1a\n").unwrap();
    let set_mode = |mode| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    set_mode(0o644);
    let (code, _, err) = p.run(&["serve", "--token-file", "token"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("may be read by others (mode 644)"), "{err}");
    assert!(err.contains("hint: chmod 600 token"), "{err}");
    assert!(!err.contains("tok-3d8f1a"), "{err}");
    set_mode(0o600);

    let served = Served::start(&p, &["--token-file", "token"]);
    let (status, head, _) = served.get_with("/api/fleet", &[]);
    assert_eq!(status, 401, "{head}");
    assert!(head.contains("www-authenticate: Bearer"), "{head}");
    let (status, _, _) = served.get_with("/api/fleet", &[("Authorization", "Bearer tok-3d8f1b")]);
    assert_eq!(status, 401);
    let (status, _, body) =
        served.get_with("/api/fleet", &[("Authorization", "Bearer tok-3d8f1a")]);
    assert_eq!(status, 200, "{body}");
    // ?token= once: a cookie, and the token leaves the address.
    let (status, head, _) = served.get_with("/history?token=tok-3d8f1a", &[]);
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("location: /history\r\n"), "{head}");
    assert!(head.contains("set-cookie: oss_token=tok-3d8f1a; Path=/; HttpOnly; SameSite=Strict"));
    let (status, _, _) = served.get_with("/history", &[("Cookie", "oss_token=tok-3d8f1a")]);
    assert_eq!(status, 200);
}

#[test]
fn the_api_reads_only_and_answers_bad_requests_with_located_errors() {
    let p = Project::sample(2);
    p.ok(&["apply", "--auto-approve"]);
    p.ok(&["plan", "--out", "p.bin"]);
    let served = Served::start(&p, &["--plan", "p.bin", "--plan", "missing.bin"]);

    let (status, body) = served.get("/api/fleet?limit=1&offset=1");
    assert_eq!(status, 200, "{body}");
    let fleet: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(fleet["totals"]["nodes"], 2);
    assert_eq!(fleet["total_rows"], 2);
    assert_eq!(fleet["rows"].as_array().unwrap().len(), 1);
    assert_eq!(fleet["rows"][0]["address"], "node.web[1]");

    let (status, body) = served.get("/api/nodes/node.web%5B1%5D");
    assert_eq!(status, 200, "{body}");
    let node: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(node["row"]["status"], "running");
    assert_eq!(node["logs"][0]["name"], "stderr");
    assert_eq!(node["fallbacks"][0]["location"], "local-b");

    let (status, body) = served.get("/api/nodes/node.web%5B7%5D");
    assert_eq!(status, 404);
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["error"], "No resource node.web[7] in the state.");
    assert!(
        problem["hint"]
            .as_str()
            .unwrap()
            .starts_with("did you mean node.web[")
    );

    let (status, body) = served.get("/api/history/diff?from=1&to=banana");
    assert_eq!(status, 400);
    assert!(
        body.contains("`to` must be a state serial, not banana."),
        "{body}"
    );
    let (status, body) = served.get("/api/history/diff?from=1&to=99");
    assert_eq!(status, 404, "{body}");
    assert!(
        body.contains("There is no version 99 of the state in "),
        "{body}"
    );

    let (status, body) = served.get("/api/plans");
    assert_eq!(status, 200);
    let plans: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(plans[0]["problem"], Value::Null);
    assert!(
        plans[1]["problem"]
            .as_str()
            .unwrap()
            .starts_with("Cannot read plan file missing.bin")
    );
    let (status, body) = served.get("/plans/0");
    assert_eq!(status, 200);
    assert!(body.contains("<article class=\"plan\">"), "{body}");
    let (status, _) = served.get("/plans/7");
    assert_eq!(status, 404);

    // Read-only: nothing but GET (and HEAD) is routed.
    for method in ["POST", "PUT", "DELETE"] {
        let (status, _, _) = common::serve::get(&served.addr, method, "/api/fleet", &[]);
        assert_eq!(status, 405, "{method}");
    }
    // Serving takes no lock: an apply runs beside it.
    p.ok(&["apply", "--auto-approve"]);
}

#[test]
fn prometheus_scrapes_the_fleet_from_metrics() {
    let mut strategy = common::sim_example("cheapest-across-providers.json");
    strategy["node"]["count"] = 3.into();
    let p = Project::with_strategy(&strategy);
    p.ok(&["apply", "--auto-approve"]);
    let state = p.state("cheapest");
    let hourly: f64 = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["placement"]["hourly_price"].as_f64().unwrap())
        .sum();
    let served = Served::start(&p, &[]);
    let (status, head, text) = served.get_with("/metrics", &[]);
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert!(text.contains("# TYPE oss_nodes gauge"), "{text}");

    let prometheus = Prometheus::start(&served.addr);
    // sum(oss_nodes), once Prometheus has scraped oss at least once.
    let started = Instant::now();
    let nodes = loop {
        let nodes = prometheus.query("sum%28oss_nodes%29");
        if !nodes.is_empty() {
            break nodes;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "Prometheus had no oss_nodes after 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(nodes[0]["value"][1], "3");
    let up = prometheus.query("up%7Bjob%3D%22oss%22%7D");
    assert_eq!(up[0]["value"][1], "1", "{up:?}");
    let cost = prometheus.query("oss_fleet_cost_per_hour");
    let scraped: f64 = cost[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!((scraped - hourly).abs() < 1e-9, "{scraped} != {hourly}");
    assert_eq!(cost[0]["metric"]["currency"], "USD");
}

/// The sample fleet of `count` nodes, probed over HTTP every 300 ms and seen down after 3
/// failures in a row (within 300 ms × 2 + the 200 ms timeout).
fn health_sample(count: usize) -> Value {
    let mut strategy: Value =
        serde_json::from_str(include_str!("../strategy.sample.json")).unwrap();
    strategy["node"]["count"] = count.into();
    strategy["node"]["health"] = serde_json::json!({
        "type": "http", "path": "/", "interval": "300ms", "timeout": "200ms",
        "healthy_threshold": 1, "unhealthy_threshold": 3
    });
    strategy
}

/// Kills the processes of local node `address` (its process group), by pid.
fn kill_node(p: &Project, address: &str) {
    let state = p.state("hello");
    let id = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == address)
        .unwrap()["provider_id"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = p.path(&format!("state/local/{id}"));
    let pids: Vec<i32> = p
        .node_processes()
        .into_iter()
        .filter(|(_, d)| std::path::Path::new(d) == dir)
        .map(|(pid, _)| pid)
        .collect();
    assert!(!pids.is_empty(), "{address} has no process to kill");
    for pid in pids {
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unhealthy_node_turns_red_within_the_health_threshold() {
    let p = Project::with_strategy(&health_sample(2));
    p.ok(&["apply", "--auto-approve"]);
    let served = Served::start(&p, &[]);
    let b = Browser::start("health").await;
    b.client.goto(&served.url("/")).await.unwrap();
    let row = |health: &str| {
        format!("#fleet-rows tr[data-address=\"node.web[1]\"][data-health=\"{health}\"]")
    };
    // The precondition: the node is seen up before it is killed.
    assert!(
        appears(&b, &row("up"), Duration::from_secs(15)).await,
        "node.web[1] was never shown up"
    );
    assert!(
        appears(
            &b,
            &row("up").replace("web[1]", "web[0]"),
            Duration::from_secs(5)
        )
        .await
    );
    kill_node(&p, "node.web[1]");
    let killed = Instant::now();
    // Detection: 2 intervals + a timeout = 800 ms; slack for the event and the browser.
    let within = Duration::from_millis(800) + Duration::from_secs(3);
    assert!(
        appears(&b, &row("down"), within).await,
        "node.web[1] was not shown down within {within:?}"
    );
    let took = killed.elapsed();
    // Red is not the only signal: the cell says it.
    let cell = text(&b, &format!("{} span.health", row("down"))).await;
    assert_eq!(cell, "down");
    assert_eq!(text(&b, "#total-health-down").await, "1");
    // The other node stays up; the page was not reloaded to show it.
    assert_eq!(count(&b, &row("up").replace("web[1]", "web[0]")).await, 1);
    b.client
        .execute(
            "document.getElementById('fleet').scrollIntoView(); return null;",
            vec![],
        )
        .await
        .unwrap();
    b.screenshot("health-down").await;
    eprintln!("node.web[1] shown down {took:?} after the kill");

    // Its page, reached with the keyboard: the verdict in words and the transitions.
    let link = b
        .client
        .find(Locator::Css(&format!("{} a", row("down"))))
        .await
        .unwrap();
    link.send_keys(&Key::Enter.to_string()).await.unwrap();
    assert!(appears(&b, "#health-now[data-health=down]", Duration::from_secs(10)).await);
    assert!(text(&b, "#health-now").await.starts_with("Now: down"));
    let history = text(&b, "#health-history tbody").await;
    assert!(
        history.contains("up") && history.contains("down"),
        "{history}"
    );
    b.screenshot("health-node").await;
    b.close().await;

    let (status, body) = served.get("/api/nodes/node.web%5B1%5D");
    assert_eq!(status, 200);
    let node: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(node["health"]["status"], "down", "{body}");
    let last = node["health_history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["to"].as_str(), last["observer"].as_str()),
        (Some("down"), Some("serve"))
    );
    let (_, body) = served.get("/api/fleet");
    let fleet: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(fleet["health"]["down"], 1, "{body}");
    assert_eq!(fleet["rows"][0]["health"], "up");
    assert_eq!(fleet["rows"][1]["health"], "down");
}

#[test]
fn prometheus_scrapes_health_probe_latency_and_verdicts() {
    let p = Project::with_strategy(&health_sample(2));
    p.ok(&["apply", "--auto-approve"]);
    let served = Served::start(&p, &[]);
    let prometheus = Prometheus::start(&served.addr);
    let started = Instant::now();
    let probes = loop {
        let found = prometheus.query("oss_health_probe_duration_seconds_count");
        let n = found
            .first()
            .and_then(|s| s["value"][1].as_str())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if n > 0.0 {
            break n;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "Prometheus had no probe latencies after 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(probes >= 2.0, "{probes}");
    // The histogram's buckets, as Prometheus computes quantiles from them.
    let p99 = prometheus
        .query("histogram_quantile%280.99%2C%20oss_health_probe_duration_seconds_bucket%29");
    let p99: f64 = p99[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(p99 > 0.0 && p99 <= 0.2, "{p99}");
    let up = prometheus.query("oss_nodes_health%7Bhealth%3D%22up%22%7D");
    let started = Instant::now();
    let mut up = up;
    while up.first().map(|s| s["value"][1].clone()) != Some(Value::from("2")) {
        assert!(started.elapsed() < Duration::from_secs(30), "{up:?}");
        std::thread::sleep(Duration::from_millis(200));
        up = prometheus.query("oss_nodes_health%7Bhealth%3D%22up%22%7D");
    }
    let failures = prometheus.query("oss_health_probe_failures_total");
    assert_eq!(failures[0]["value"][1], "0", "{failures:?}");
}

#[test]
fn sigterm_ends_open_event_streams_and_the_server() {
    let p = Project::sample(1);
    p.ok(&["apply", "--auto-approve"]);
    let mut served = Served::start(&p, &[]);
    // A browser's event stream, left open.
    let mut stream = std::net::TcpStream::connect(&served.addr).unwrap();
    std::io::Write::write_all(
        &mut stream,
        format!("GET /api/events HTTP/1.1\r\nHost: {}\r\n\r\n", served.addr).as_bytes(),
    )
    .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = [0u8; 64];
    let n = std::io::Read::read(&mut stream, &mut head).unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));
    let status = served
        .terminate(Duration::from_secs(10))
        .expect("oss serve still running 10 s after SIGTERM");
    assert!(status.success(), "{status:?}");
}
