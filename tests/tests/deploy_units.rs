//! The systemd units in `deploy/`, checked by systemd itself: `systemd-analyze verify` must have
//! nothing to say about any of them (an unknown or misspelt directive is only a warning there,
//! so any output fails), `systemd-analyze security --offline=yes` must rate each one's exposure
//! low, and `systemd-sysusers` must create the users the units run as.
//!
//! The checks run in a throw-away root (`--root`) holding systemd's own units, the programs the
//! units start (our binaries need not be installed on the machine that runs the tests) and the
//! units themselves, installed where an administrator puts them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Each unit's overall exposure (0 to 10, systemd's scale) must stay at or under this: systemd
/// calls up to 2.0 "OK" and only "SAFE" below it is stricter (it needs PrivateNetwork=, which a
/// network service cannot have).
const MAX_EXPOSURE: f64 = 2.0;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn units() -> Vec<PathBuf> {
    let mut units: Vec<PathBuf> = std::fs::read_dir(deploy_dir())
        .expect("deploy/ exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "service"))
        .collect();
    units.sort();
    units
}

fn unit_name(p: &Path) -> String {
    p.file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

/// `systemd-analyze`, or `None` outside CI when it is missing (tests/run installs it).
fn systemd_analyze() -> Option<PathBuf> {
    let found = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            !sandi_e2e::under_ci(),
            "systemd-analyze is missing under CI (tests/run installs the systemd package)"
        );
        eprintln!("systemd-analyze not installed: deploy units not checked");
    }
    found
}

/// The programs a unit's Exec*= lines start.
fn executables(unit: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.trim().split_once('='))
        .filter(|(k, _)| k.starts_with("Exec"))
        .filter_map(|(_, v)| {
            v.trim_start_matches(['-', '@', ':', '+', '!'])
                .split_whitespace()
                .next()
        })
        .map(str::to_owned)
        .collect()
}

/// A root with systemd's units, the units under test in /etc/systemd/system, and every program
/// they start: copied from this machine when it has it, else an executable stand-in (sandi's
/// own binaries are installed at /usr/bin only on a real host).
fn make_root(units: &[PathBuf]) -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    for d in ["usr/bin", "usr/lib/systemd", "etc/systemd/system"] {
        std::fs::create_dir_all(r.join(d)).expect("mkdir");
    }
    std::os::unix::fs::symlink("usr/bin", r.join("bin")).expect("symlink /bin");
    let status = Command::new("cp")
        .arg("-r")
        .arg("/usr/lib/systemd/system")
        .arg(r.join("usr/lib/systemd/"))
        .status()
        .expect("cp");
    assert!(status.success(), "copying systemd's own units");
    for unit in units {
        let text = std::fs::read_to_string(unit).expect("read unit");
        for exe in executables(&text) {
            assert!(
                exe.starts_with('/'),
                "{}: {exe} is not an absolute path",
                unit_name(unit)
            );
            let target = r.join(exe.trim_start_matches('/'));
            if Path::new(&exe).exists() {
                std::fs::copy(&exe, &target).expect("copy program");
            } else {
                std::fs::write(&target, "#!/bin/sh\nexit 0\n").expect("write stand-in");
            }
            let mut perms = std::fs::metadata(&target).expect("stat").permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
            std::fs::set_permissions(&target, perms).expect("chmod");
        }
        std::fs::copy(unit, r.join("etc/systemd/system").join(unit_name(unit)))
            .expect("install unit");
    }
    root
}

#[test]
fn deploy_has_both_services_and_their_users() {
    let names: Vec<String> = units().iter().map(|p| unit_name(p)).collect();
    assert_eq!(names, ["docsvc.service", "keymgr.service"]);
    let sysusers =
        std::fs::read_to_string(deploy_dir().join("sandi.sysusers.conf")).expect("sysusers");
    for unit in units() {
        let text = std::fs::read_to_string(&unit).expect("read unit");
        let user = text
            .lines()
            .find_map(|l| l.strip_prefix("User="))
            .unwrap_or_else(|| panic!("{} names no User=", unit_name(&unit)));
        assert!(
            sysusers
                .lines()
                .any(|l| l.split_whitespace().nth(1) == Some(user)),
            "{user} is not in sandi.sysusers.conf"
        );
        // What the hardening rests on, whatever score systemd gives.
        for line in [
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "CapabilityBoundingSet=",
            "SystemCallFilter=@system-service",
            "MemoryDenyWriteExecute=yes",
        ] {
            assert!(
                text.lines().any(|l| l.trim() == line),
                "{}: {line} missing",
                unit_name(&unit)
            );
        }
        assert!(
            text.lines().any(|l| l.starts_with("StateDirectory=")),
            "{}: no StateDirectory=",
            unit_name(&unit)
        );
    }
}

#[test]
fn systemd_analyze_verify_says_nothing() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    let units = units();
    let root = make_root(&units);
    let out = Command::new(&analyze)
        .arg("verify")
        .arg(format!("--root={}", root.path().display()))
        .args(units.iter().map(|u| unit_name(u)))
        .output()
        .expect("run systemd-analyze verify");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{said}"
    );
    assert!(
        said.trim().is_empty(),
        "systemd-analyze verify warns:\n{said}"
    );
}

/// The check above is not blind: a misspelt directive and a missing program are reported.
#[test]
fn systemd_analyze_verify_catches_a_broken_unit() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    let root = make_root(&units());
    let unit = root.path().join("etc/systemd/system/keymgr.service");
    let text = std::fs::read_to_string(&unit).expect("read");
    let broken = text
        .replace("ProtectSystem=strict", "ProtectSystm=strict")
        .replace("/usr/bin/keymgr", "/usr/bin/keymgr-missing");
    std::fs::write(&unit, broken).expect("write");
    let out = Command::new(&analyze)
        .arg("verify")
        .arg(format!("--root={}", root.path().display()))
        .arg("keymgr.service")
        .output()
        .expect("run systemd-analyze verify");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("ProtectSystm"), "{said}");
    assert!(said.contains("keymgr-missing"), "{said}");
}

#[test]
fn systemd_analyze_security_rates_each_unit_low() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    let units = units();
    let root = make_root(&units);
    for unit in &units {
        let name = unit_name(unit);
        let out = Command::new(&analyze)
            .args(["security", "--offline=yes", "--no-pager"])
            .arg(format!("--root={}", root.path().display()))
            // systemd's own threshold is on a 0..100 scale; it fails the command above it.
            .arg(format!("--threshold={}", (MAX_EXPOSURE * 10.0).round()))
            .arg(&name)
            .output()
            .expect("run systemd-analyze security");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "{name}: exposure over the threshold:\n{said}"
        );
        let level: f64 = said
            .lines()
            .find_map(|l| l.split_once(&format!("Overall exposure level for {name}: ")))
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{name}: no exposure level in\n{said}"));
        assert!(
            level <= MAX_EXPOSURE,
            "{name}: exposure {level} is over {MAX_EXPOSURE}:\n{said}"
        );
    }
}

#[test]
fn sysusers_creates_the_service_users() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    let sysusers = analyze.with_file_name("systemd-sysusers");
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(root.path().join("etc")).expect("mkdir etc");
    let conf = deploy_dir()
        .join("sandi.sysusers.conf")
        .canonicalize()
        .expect("sysusers file");
    let out = Command::new(&sysusers)
        .arg(format!("--root={}", root.path().display()))
        .arg(&conf)
        .output()
        .expect("run systemd-sysusers");
    assert!(
        out.status.success(),
        "systemd-sysusers: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).expect("passwd");
    for user in ["sandi-keymgr", "sandi-docsvc"] {
        let line = passwd
            .lines()
            .find(|l| l.starts_with(&format!("{user}:")))
            .unwrap_or_else(|| panic!("{user} not created:\n{passwd}"));
        assert!(
            line.ends_with(":/usr/sbin/nologin"),
            "{user} can log in: {line}"
        );
    }
}
