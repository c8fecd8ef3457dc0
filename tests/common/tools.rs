//! The configuration tools the tests run (ansible-core, Fabric and salt-ssh from the test
//! virtualenv; Puppet and OpenSSH from Debian), set up to find `oss` on their PATH and to keep
//! their homes, caches and accepted host keys inside the project.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::Project;

/// A program from the test virtualenv, which scripts/test.sh creates; missing is a failure.
pub fn venv_tool(name: &str) -> PathBuf {
    let path = super::moto::venv().join("bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/test.sh (scripts/moto-venv.sh installs ansible-core, Fabric and salt)",
        path.display()
    );
    path
}

/// A program installed from Debian; missing is a failure naming the package.
pub fn debian_tool(path: &str, package: &str) -> PathBuf {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: scripts/test.sh installs it (apt-get install {package})"
    );
    PathBuf::from(path)
}

/// `program` run in the project with `oss` and the virtualenv first on its PATH, HOME and
/// Ansible's directories inside the project, `OSS_STRATEGY`/`OSS_STATE_DIR` naming the
/// project's (as the examples' scripts read them), and every variable set with
/// [`Project::set_env`].
pub fn command(p: &Project, program: impl AsRef<OsStr>) -> Command {
    let oss_dir = Path::new(env!("CARGO_BIN_EXE_oss")).parent().unwrap();
    let search = format!(
        "{}:{}:{}",
        oss_dir.display(),
        super::moto::venv().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new(program);
    command
        .current_dir(p.dir.path())
        .env("PATH", search)
        .env("HOME", p.dir.path())
        .env("ANSIBLE_HOME", p.path(".ansible"))
        .env("ANSIBLE_LOCAL_TEMP", p.path(".ansible/tmp"))
        .env("OSS_STRATEGY", p.path("strategy.json"))
        .env("OSS_STATE_DIR", p.path("state"))
        .envs(p.env());
    command
}

/// Runs `command`, asserting success; returns stdout.
pub fn ok(command: &mut Command) -> String {
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{command:?} failed ({})\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
