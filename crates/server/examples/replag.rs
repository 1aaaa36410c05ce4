//! Replication lag probe (used by bench/replication.sh): modifies one entry on the provider
//! N times, one after the other, and after each acknowledgement polls the replica until the
//! new value is visible there. Prints one JSON line: percentiles of "provider ack → visible
//! on the replica" in milliseconds.
//!
//!     replag PROVIDER_URL REPLICA_URL BIND_DN PASSWORD ENTRY_DN [N]

use ldap3::{LdapConnAsync, Mod, Scope, SearchEntry};
use std::collections::HashSet;
use std::time::{Duration, Instant};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!("usage: replag PROVIDER_URL REPLICA_URL BIND_DN PASSWORD ENTRY_DN [N]");
        std::process::exit(2);
    }
    let (provider, replica, dn, pw, entry) = (&args[1], &args[2], &args[3], &args[4], &args[5]);
    let n: usize = args.get(6).and_then(|s| s.parse().ok()).unwrap_or(200);
    let (c1, mut p) = LdapConnAsync::new(provider).await?;
    ldap3::drive!(c1);
    p.simple_bind(dn, pw).await?.success()?;
    let (c2, mut r) = LdapConnAsync::new(replica).await?;
    ldap3::drive!(c2);
    r.simple_bind(dn, pw).await?.success()?;
    let tag = std::process::id();
    let mut lags = Vec::with_capacity(n);
    for i in 0..n {
        let value = format!("lag-{tag}-{i}");
        p.modify(entry, vec![Mod::Replace("description", HashSet::from([value.as_str()]))]).await?.success()?;
        let acked = Instant::now();
        let filter = format!("(description={value})");
        loop {
            let (found, _) = r.search(entry, Scope::Base, &filter, vec!["1.1"]).await?.success()?;
            if !found.is_empty() {
                let _ = found.into_iter().map(SearchEntry::construct).count();
                break;
            }
            if acked.elapsed() > Duration::from_secs(30) {
                return Err(format!("change {i} not visible on the replica after 30 s").into());
            }
        }
        lags.push(acked.elapsed().as_secs_f64() * 1000.0);
    }
    lags.sort_by(f64::total_cmp);
    let pct = |q: f64| lags[((lags.len() as f64 - 1.0) * q).round() as usize];
    let mean = lags.iter().sum::<f64>() / lags.len() as f64;
    println!(
        "{{\"changes\":{n},\"mean_ms\":{mean:.2},\"p50_ms\":{:.2},\"p90_ms\":{:.2},\"p99_ms\":{:.2},\"max_ms\":{:.2}}}",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
    Ok(())
}
