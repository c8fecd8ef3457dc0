//! Process hardening for anything that may hold a key: no core file (RLIMIT_CORE 0, soft and
//! hard) and not dumpable (`PR_SET_DUMPABLE` 0: no core either, and other processes of the
//! same user can neither ptrace it nor read its `/proc/PID/mem`, `environ` or `maps`).
//! Called first thing in `oss::cli::main()`, so every command and the unlock agent run
//! hardened. Programs oss starts (local nodes, haproxy) are dumpable again once they exec,
//! but inherit the core limit. See docs/security.md for why both are set.

/// Turns core dumps off for good and makes this process non-dumpable. Each call is
/// idempotent; a refusal by the kernel (never seen on Linux for lowering a limit) is returned
/// so a caller may say so, and leaves the other setting in force.
pub fn harden() -> std::io::Result<()> {
    let none = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads the struct given, valid for the call; lowering a limit needs
    // no privilege.
    let limited = unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) };
    let limit_error = (limited != 0).then(std::io::Error::last_os_error);
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) only changes this process's dumpable flag.
    let dumpable = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    if dumpable != 0 {
        return Err(std::io::Error::last_os_error());
    }
    limit_error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    /// The test process itself is hardened: harmless for the other unit tests (none reads
    /// its own /proc files or needs a core).
    #[test]
    fn cores_are_off_and_the_process_is_not_dumpable() {
        super::harden().unwrap();
        let mut limit = libc::rlimit {
            rlim_cur: 1,
            rlim_max: 1,
        };
        // SAFETY: getrlimit writes the struct given, valid for the call.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut limit) }, 0);
        assert_eq!((limit.rlim_cur, limit.rlim_max), (0, 0));
        // SAFETY: PR_GET_DUMPABLE takes no pointer and returns the flag.
        assert_eq!(unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) }, 0);
        // The soft limit cannot rise above the hard one, now 0.
        let raise = libc::rlimit {
            rlim_cur: 1,
            rlim_max: 0,
        };
        // SAFETY: as above.
        assert_ne!(unsafe { libc::setrlimit(libc::RLIMIT_CORE, &raise) }, 0);
        super::harden().unwrap();
    }
}
