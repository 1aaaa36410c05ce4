//! Benchmark-style check that a bind to an unknown DN costs what a wrong password for an
//! existing (argon2) account costs, so bind timing does not reveal which accounts exist.
//!
//!     cargo bench -p birch-server --bench bind_timing
//!
//! Starts the real `birch` binary with the demo data and the default argon2 parameters
//! (rate limits and lockout off, so that repeated failures are measured, not refused),
//! interleaves `ROUNDS` failed binds of each kind over loopback and prints the medians and
//! their ratio. Exits non-zero when the ratio is outside a generous band: it is a
//! statistical check meant to be read, not a timed assertion of the test suite.

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: usize = 60;
const KNOWN: &str = "uid=alice,ou=people,dc=example,dc=org";
const UNKNOWN: &str = "uid=nobody-here,ou=people,dc=example,dc=org";
/// Accepted band for median(unknown) / median(known).
const BAND: (f64, f64) = (0.67, 1.5);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(3399)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn failed_bind(url: &str, dn: &str) -> Duration {
    let (conn, mut ldap) = ldap3::LdapConnAsync::new(url).await.expect("connect");
    ldap3::drive!(conn);
    let start = Instant::now();
    let res = ldap.with_timeout(Duration::from_secs(20)).simple_bind(dn, "not-the-password").await.expect("bind");
    let took = start.elapsed();
    assert_eq!(res.rc, 49, "{res}");
    let _ = ldap.unbind().await;
    took
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = dir.path().join("birch.toml");
    let text = format!(
        "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n[ppolicy]\nlockout = false\n[rate_limit]\nper_address_burst = 0\nper_dn_burst = 0\n",
        dir.path().join("data").display()
    );
    std::fs::write(&config, text).expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_birch"))
        .args(["serve", "--demo", "--config"])
        .arg(&config)
        .env("BIRCH_ROOT_PASSWORD", "bench-root-secret")
        .env("BIRCH_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn birch");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "birch did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("ldap://127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let (known, unknown) = rt.block_on(async {
        // Warm up (the dummy hash is made on first use).
        failed_bind(&url, UNKNOWN).await;
        failed_bind(&url, KNOWN).await;
        let (mut known, mut unknown) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            known.push(failed_bind(&url, KNOWN).await);
            unknown.push(failed_bind(&url, UNKNOWN).await);
        }
        (median(known), median(unknown))
    });
    let _ = child.kill();
    let _ = child.wait();
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    println!("failed bind, existing argon2 account: median {known:?}");
    println!("failed bind, unknown DN:              median {unknown:?}");
    println!("ratio unknown/known: {ratio:.2} (accepted {:.2}..{:.2})", BAND.0, BAND.1);
    if !(BAND.0..=BAND.1).contains(&ratio) {
        eprintln!("bind timing reveals whether a DN exists");
        std::process::exit(1);
    }
}
