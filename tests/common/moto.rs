//! A moto server for one test: started from the test virtualenv (`scripts/test.sh` makes it
//! and exports `OSS_TEST_VENV`) on a free loopback port, killed by pid when dropped, plus
//! boto3 run from the same virtualenv as an independent look at what "AWS" holds.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The test virtualenv, or a failure saying how to make it (never a quiet skip).
pub fn venv() -> PathBuf {
    let dir = std::env::var_os("OSS_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-test"));
    assert!(
        dir.join("bin/moto_server").exists() && dir.join("bin/python").exists(),
        "the AWS tests need moto's server and boto3 in a virtualenv at {} (OSS_TEST_VENV); \
         run scripts/test.sh once to create it",
        dir.display()
    );
    dir
}

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `moto_server`.
pub struct Moto {
    child: Child,
    pub port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Moto {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts moto with extra environment (`INITIAL_NO_AUTH_ACTION_COUNT`...).
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        Self::launch(env, false)
    }

    /// A moto that answers one request at a time. moto checks S3's conditional writes
    /// (`If-None-Match: *`, `If-Match`) and then writes, without a lock, so two requests at
    /// once can both pass the check; real S3 decides them atomically. Tests of contention on
    /// those writes use this one, where moto's check and write cannot interleave.
    pub fn start_serial() -> Self {
        Self::launch(&[], true)
    }

    fn launch(env: &[(&str, &str)], serial: bool) -> Self {
        let venv = venv();
        let dir = tempfile::Builder::new()
            .prefix("oss-moto-")
            .tempdir()
            .unwrap();
        let log = dir.path().join("moto.log");
        let port = free_port();
        let mut command = if serial {
            // moto_server's own start-up, with werkzeug's threads turned off.
            let mut c = Command::new(venv.join("bin/python"));
            c.args([
                "-c",
                "import os, sys\n\
                 from werkzeug.serving import run_simple\n\
                 from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app\n\
                 from moto.moto_server.werkzeug_app import MotoRequestHandler\n\
                 port = int(sys.argv[1]); os.environ.setdefault('MOTO_PORT', str(port))\n\
                 run_simple('127.0.0.1', port, DomainDispatcherApplication(create_backend_app), \
                 threaded=False, request_handler=MotoRequestHandler)\n",
                &port.to_string(),
            ]);
            c
        } else {
            let mut c = Command::new(venv.join("bin/moto_server"));
            c.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            c
        };
        let child = command
            .envs(env.iter().copied())
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("moto.err")).unwrap())
            .spawn()
            .expect("start moto_server");
        let mut moto = Moto {
            child,
            port,
            log,
            _dir: dir,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!(
                    "moto_server exited at start ({status}); see {}",
                    moto.log.display()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto_server did not listen on 127.0.0.1:{port} within 30s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs a Python snippet with boto3 against this moto (`ec2` and `iam` clients ready,
    /// `region` set); it prints one JSON value, which is returned.
    pub fn boto(&self, region: &str, credentials: (&str, &str), script: &str) -> Value {
        let prelude = format!(
            "import boto3, json\n\
             session = boto3.session.Session(aws_access_key_id={ak:?}, aws_secret_access_key={sk:?}, region_name={region:?})\n\
             ec2 = session.client('ec2', endpoint_url={url:?})\n\
             iam = session.client('iam', endpoint_url={url:?})\n",
            ak = credentials.0,
            sk = credentials.1,
            url = self.url(),
        );
        let out = Command::new(venv().join("bin/python"))
            .args(["-c", &format!("{prelude}{script}")])
            .env_remove("AWS_PROFILE")
            .output()
            .expect("run python from the test virtualenv");
        assert!(
            out.status.success(),
            "boto3 script failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "boto3 script printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Instances (any state but terminated) as boto3 sees them: id, state, zone, type, key,
    /// group ids, tags, launch index and (see [`oss_address`]) the address oss launched it for.
    pub fn instances(&self, region: &str) -> Vec<Value> {
        let found = self.boto(
            region,
            ("AKIDBOTO", "boto-secret"),
            "out = []\n\
             for page in ec2.get_paginator('describe_instances').paginate():\n\
             \x20   for r in page['Reservations']:\n\
             \x20       for i in r['Instances']:\n\
             \x20           if i['State']['Name'] == 'terminated':\n\
             \x20               continue\n\
             \x20           out.append({'id': i['InstanceId'], 'state': i['State']['Name'], 'zone': i['Placement']['AvailabilityZone'], 'type': i['InstanceType'], 'key': i.get('KeyName'), 'groups': [g['GroupId'] for g in i.get('SecurityGroups', [])], 'tags': {t['Key']: t['Value'] for t in i.get('Tags', [])}, 'launch_index': i.get('AmiLaunchIndex')})\n\
             print(json.dumps(out))\n",
        );
        let mut found = found.as_array().unwrap().clone();
        for i in &mut found {
            i["address"] = oss_address(i).map_or(Value::Null, Value::from);
        }
        found
    }

    /// Key pair names and security group ids (other than `default`) in `region`.
    pub fn keys_and_groups(&self, region: &str) -> (Vec<String>, Vec<Value>) {
        let found = self.boto(
            region,
            ("AKIDBOTO", "boto-secret"),
            "keys = [k['KeyName'] for k in ec2.describe_key_pairs()['KeyPairs']]\n\
             groups = [{'id': g['GroupId'], 'name': g['GroupName'], 'ports': sorted(p.get('FromPort', -1) for p in g['IpPermissions']), 'rules': sorted([f\"{p['FromPort']} {r['CidrIp']}\" for p in g['IpPermissions'] for r in p.get('IpRanges', [])] + [f\"{p['FromPort']} {r['CidrIpv6']}\" for p in g['IpPermissions'] for r in p.get('Ipv6Ranges', [])])} for g in ec2.describe_security_groups()['SecurityGroups'] if g['GroupName'] != 'default']\n\
             print(json.dumps([keys, groups]))\n",
        );
        let keys = found[0]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect();
        (keys, found[1].as_array().unwrap().clone())
    }

    /// Terminates an instance behind oss's back.
    pub fn terminate(&self, region: &str, id: &str) {
        self.boto(
            region,
            ("AKIDBOTO", "boto-secret"),
            &format!("ec2.terminate_instances(InstanceIds=[{id:?}])\nprint('null')\n"),
        );
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Our own child, by pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address an instance of [`Moto::instances`] was launched for, read independently of
/// oss's code: its `oss:address` tag, else entry `launch_index` of its batch's
/// `oss:addresses` (`node.web[0-3,7]`).
pub fn oss_address(instance: &Value) -> Option<String> {
    let tags = &instance["tags"];
    if let Some(address) = tags["oss:address"].as_str() {
        return Some(address.to_string());
    }
    let listed = tags["oss:addresses"].as_str()?;
    let (prefix, ranges) = listed.strip_suffix(']')?.split_once('[')?;
    let mut indexes = Vec::new();
    for part in ranges.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        indexes.extend(a.parse::<u64>().ok()?..=b.parse::<u64>().ok()?);
    }
    let index = indexes.get(usize::try_from(instance["launch_index"].as_u64()?).ok()?)?;
    Some(format!("{prefix}[{index}]"))
}
