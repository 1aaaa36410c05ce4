//! The driver of a target built without libFuzzer:
//!
//!     <target> [--seconds S] [--runs N] [--seed X] FILE_OR_DIR...
//!
//! Runs the target on every file (a directory: each file in it), then on mutations of them
//! (bit flips, byte changes, insertions, deletions, duplicated or spliced chunks) until S
//! seconds have passed or N mutations ran. The mutations depend only on the seed and the
//! files, so a failure is reproducible; a failing input is written to
//! `fuzz/artifacts/<target>/smoke-crash-<n>` and the program exits 1.
//!
//! This is not coverage-guided fuzzing (that is libFuzzer's job, see docs/testing.md); it
//! checks that the targets build and run on stable Rust, and shakes their inputs a little.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Options of a replay run.
struct Options {
    seconds: Option<f64>,
    runs: Option<u64>,
    seed: u64,
    paths: Vec<PathBuf>,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options { seconds: None, runs: None, seed: 0x5eed_b1c4, paths: Vec::new() };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--seconds" => o.seconds = Some(value("--seconds")?.parse().map_err(|e| format!("--seconds: {e}"))?),
            "--runs" => o.runs = Some(value("--runs")?.parse().map_err(|e| format!("--runs: {e}"))?),
            "--seed" => o.seed = value("--seed")?.parse().map_err(|e| format!("--seed: {e}"))?,
            _ if a.starts_with("--") => return Err(format!("unknown option {a}")),
            _ => o.paths.push(PathBuf::from(a)),
        }
    }
    Ok(o)
}

fn read_inputs(paths: &[PathBuf]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let mut read = |p: &Path| -> Result<(), String> {
        let data = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
        out.push((p.display().to_string(), data));
        Ok(())
    };
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            for f in files {
                read(&f)?;
            }
        } else {
            read(p)?;
        }
    }
    Ok(out)
}

/// xorshift64*: a few lines for reproducible mutations, so that the smoke build needs no
/// crate beyond those the main workspace already compiles.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Bytes that often matter to parsers: BER lengths and tags, delimiters, escapes.
const INTERESTING: &[u8] = b"\x00\x01\x7f\x80\x81\x84\xff\x30\x04\x0a\x02\xa0\x63(),=+\\\"#:;\n {}$*";

fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.next() as u8;
            }
            2 => {
                let b = INTERESTING[rng.below(INTERESTING.len())];
                v.insert(rng.below(len + 1), b);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(16));
                v.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                let chunk: Vec<u8> = v[i..i + n].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, chunk);
            }
            5 if !other.is_empty() => {
                let i = rng.below(other.len());
                let n = 1 + rng.below((other.len() - i).min(64));
                let at = rng.below(len + 1);
                v.splice(at..at, other[i..i + n].iter().copied());
            }
            _ if len > 0 => {
                let i = rng.below(len);
                v[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            _ => v.push(rng.next() as u8),
        }
    }
    v
}

/// Runs `f` on one input; on a panic, saves the input and says where.
fn run_one(target: &str, f: &dyn Fn(&[u8]), input: &[u8], n: u64) -> Result<(), String> {
    if catch_unwind(AssertUnwindSafe(|| f(input))).is_ok() {
        return Ok(());
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts").join(target);
    let path = dir.join(format!("smoke-crash-{n}"));
    let saved = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, input));
    Err(match saved {
        Ok(()) => format!("{target}: the input saved in {} fails", path.display()),
        Err(e) => format!("{target}: input {input:02x?} fails (and cannot be saved: {e})"),
    })
}

/// Runs the target `f` as described in the module documentation.
pub fn main(target: &str, f: impl Fn(&[u8])) -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{target}: {e}");
            return ExitCode::from(2);
        }
    };
    let inputs = match read_inputs(&opts.paths) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{target}: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    for (i, (_, data)) in inputs.iter().enumerate() {
        if let Err(e) = run_one(target, &f, data, i as u64) {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    }
    let deadline = opts.seconds.map(|s| started + Duration::from_secs_f64(s));
    let mut rng = Rng(opts.seed | 1);
    let mut runs = 0u64;
    while !inputs.is_empty()
        && opts.runs.is_none_or(|n| runs < n)
        && deadline.is_none_or(|d| Instant::now() < d)
        && (opts.runs.is_some() || deadline.is_some())
    {
        let base = &inputs[rng.below(inputs.len())].1;
        let other = &inputs[rng.below(inputs.len())].1;
        let input = mutate(&mut rng, base, other);
        runs += 1;
        if let Err(e) = run_one(target, &f, &input, inputs.len() as u64 + runs) {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    }
    eprintln!(
        "{target}: {} inputs and {runs} mutations ran clean in {:.1}s",
        inputs.len(),
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
