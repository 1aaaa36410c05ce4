//! Docs that are true: every shell block of README.md and docs/*.md marked runnable (a fence
//! of ```` ```sh runnable ````) runs against a demo server, the README command table lists
//! every `birch` subcommand, and the access-rule example of docs/acl.md is the campus policy
//! it claims to extend. docs/testing.md ("Runnable documentation") describes the conventions.

mod common;

use common::demo::{ALICE, BOB, CHENWEI, NSLCD};
use common::{birch_bin, bounded, connect_as, search, Server, OP_TIMEOUT, ROOT_DN};
use ldap3::exop::PasswordModify;
use ldap3::{Mod, Scope};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The root password the docs use (README: `BIRCH_ROOT_PASSWORD=admin-secret`).
const DOC_ROOT_PW: &str = "admin-secret";

/// The address the docs write for the server: the default `listen` (`serve --demo`).
const DOC_ADDRESS: &str = "127.0.0.1:3389";

/// How long one block may run.
const BLOCK_SECS: u64 = 30;

/// The repository's top directory.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// README.md and docs/*.md, in name order.
fn doc_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    files.insert(0, repo().join("README.md"));
    files
}

/// A fenced code block: where it is, its info string and its text.
struct Block {
    /// `file:line` of the opening fence.
    at: String,
    /// The words after the backticks (`sh runnable`).
    info: Vec<String>,
    body: String,
    /// For a runnable block: the lines of the ```` ```text output ```` block after it (the
    /// next block of the file), which its standard output must contain in that order.
    output: Option<String>,
}

/// Every fenced code block of a Markdown file (fences at any indentation).
fn blocks(path: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.strip_prefix(repo()).unwrap_or(path).display().to_string();
    let mut out = Vec::new();
    let mut open: Option<(usize, Vec<String>, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match open.take() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    open = Some((i + 1, info.split_whitespace().map(String::from).collect(), String::new()));
                }
            }
            Some((at, info, mut body)) => {
                if trimmed.starts_with("```") {
                    out.push(Block { at: format!("{name}:{at}"), info, body, output: None });
                } else {
                    body.push_str(line);
                    body.push('\n');
                    open = Some((at, info, body));
                }
            }
        }
    }
    assert!(open.is_none(), "{name}: a code block is not closed");
    out
}

/// The blocks marked runnable, in file order.
fn runnable() -> Vec<Block> {
    let is = |b: &Block, word: &str| b.info.iter().any(|w| w == word);
    let mut out = Vec::new();
    for file in doc_files() {
        let mut all = blocks(&file).into_iter().peekable();
        while let Some(mut b) = all.next() {
            if is(&b, "output") {
                panic!("{}: an output block must follow a runnable block", b.at);
            }
            if !is(&b, "runnable") {
                continue;
            }
            assert_eq!(b.info.first().map(String::as_str), Some("sh"), "{}: only sh blocks can be runnable", b.at);
            if all.peek().is_some_and(|next| is(next, "output")) {
                b.output = all.next().map(|o| o.body);
            }
            out.push(b);
        }
    }
    out
}

/// The first line of `expected` (skipping `...` lines) that `got` lacks when read in order.
fn missing_line<'a>(expected: &'a str, got: &str) -> Option<&'a str> {
    let mut got = got.lines().map(str::trim_end);
    expected.lines().map(str::trim_end).filter(|l| !l.is_empty() && *l != "...").find(|want| !got.any(|l| l == *want))
}

/// What runs before every block: the ldap-utils and `birch` as the docs write them, pointed at
/// the test's server. Password prompts are answered from a table of the demo's passwords
/// (`-W` with the password of the `-D` DN, ldappasswd's `-A` with the target's, `-S` with a
/// fresh one), and a password a block changes with ldappasswd is remembered for the lines
/// after it. `birch` gets the server's configuration instead of the one the docs name.
const PRELUDE: &str = r##"
declare -A DOC_PW=(
  [cn=admin,dc=example,dc=org]=admin-secret
  [uid=alice,ou=people,dc=example,dc=org]=alice-secret
  [uid=bob,ou=people,dc=example,dc=org]=bob-secret
  [uid=chenwei,ou=people,dc=example,dc=org]=chenwei-secret
  [cn=nslcd,ou=services,dc=example,dc=org]=nslcd-secret
)
DOC_NEW=0
doc_key() { local k="${1,,}"; printf '%s' "${k// /}"; }
doc_pw() { printf '%s' "${DOC_PW[$(doc_key "$1")]:-}"; }
doc_ldap() {
  local tool=$1; shift
  local dn="" target="" new="" prev="" a
  local -a args=()
  for a in "$@"; do [[ $prev == -D ]] && dn=$a; prev=$a; done
  target=$dn
  if [[ $tool == ldappasswd && $# -gt 0 ]]; then
    local last="${!#}" before=""
    [[ $# -gt 1 ]] && before="${@: -2:1}"
    if [[ $last == *=* && $last != -* && ! $before =~ ^-[DwaseHyoEOY]$ ]]; then target=$last; fi
  fi
  prev=""
  for a in "$@"; do
    case "$a" in
      -W) args+=(-w "$(doc_pw "$dn")") ;;
      -A) args+=(-a "$(doc_pw "$target")") ;;
      -S) DOC_NEW=$((DOC_NEW + 1)); new="Doc-new-pass-$DOC_NEW"; args+=(-s "$new") ;;
      *) [[ $prev == -s ]] && new=$a; args+=("$a") ;;
    esac
    prev=$a
  done
  if [[ $tool != ldappasswd ]]; then command "$tool" "${args[@]}"; return; fi
  local out
  out=$(command ldappasswd "${args[@]}")
  printf '%s\n' "$out"
  [[ -z $new ]] && new=$(printf '%s\n' "$out" | sed -n 's/^New password: //p')
  [[ -n $new ]] && DOC_PW[$(doc_key "$target")]=$new
  return 0
}
for t in ldapsearch ldapmodify ldapadd ldapdelete ldapmodrdn ldapcompare ldapwhoami ldappasswd ldapexop; do
  eval "$t() { doc_ldap $t \"\$@\"; }"
done
birch() {
  local -a args=()
  local skip=0 a
  for a in "$@"; do
    if ((skip)); then skip=0; continue; fi
    case "$a" in
      --config|-c) skip=1 ;;
      --config=*) ;;
      *) args+=("$a") ;;
    esac
  done
  case " ${args[*]} " in
    *" --version "*|*" --help "*|*" -V "*|*" -h "*) command birch "${args[@]}" ;;
    *) command birch "${args[@]}" --config "$DOC_CONFIG" ;;
  esac
}
"##;

/// Runs one block against `s` in a fresh directory; `Err` with what it printed on failure.
fn run_block(s: &Server, block: &Block) -> Result<(), String> {
    let work = tempfile::tempdir().expect("tempdir");
    let address = format!("127.0.0.1:{}", s.port);
    let body = block.body.replace(DOC_ADDRESS, &address).replace("localhost:3389", &address);
    let script = work.path().join("block.sh");
    std::fs::write(&script, format!("{PRELUDE}\n{body}")).expect("script");
    let bin_dir = birch_bin().parent().expect("bin dir").to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let started = Instant::now();
    // setsid: no controlling terminal, so a prompt the prelude does not answer reads the empty
    // standard input instead of waiting for someone at the terminal.
    let out = Command::new("setsid")
        .args(["--wait", "timeout", "-k", "5", &BLOCK_SECS.to_string(), "bash", "-euo", "pipefail"])
        .arg(&script)
        .current_dir(work.path())
        .env("PATH", path)
        .env("HOME", work.path())
        .env("LDAPCONF", "/dev/null")
        .env("LDAPURI", format!("ldap://{address}"))
        .env("LDAPBASE", common::SUFFIX)
        .env("DOC_CONFIG", s.config_path())
        .env("BIRCH_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let missing = block.output.as_deref().and_then(|want| missing_line(want, &stdout));
    let why = match (out.status.code(), missing) {
        (Some(0), None) => return Ok(()),
        (Some(0), Some(line)) => format!("the output lacks the line {line:?} of the output block after it"),
        (Some(124), _) => format!("timed out after {BLOCK_SECS} s"),
        _ => format!("exited with {}", out.status),
    };
    Err(format!(
        "{}: {why} ({:?})\n--- block ---\n{}--- stdout ---\n{}--- stderr ---\n{}",
        block.at,
        started.elapsed(),
        block.body,
        stdout,
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// Every runnable block, each against a fresh demo server started with the docs' root password.
#[test]
fn runnable_blocks_of_the_docs_run_against_a_demo_server() {
    let blocks = runnable();
    // The marker must not silently disappear from the docs.
    assert!(
        blocks.len() >= 8,
        "only {} runnable blocks: {:?}",
        blocks.len(),
        blocks.iter().map(|b| &b.at).collect::<Vec<_>>()
    );
    let t = Instant::now();
    let mut failures = Vec::new();
    for block in &blocks {
        let s = Server::start_with_env("", true, &[("BIRCH_ROOT_PASSWORD", DOC_ROOT_PW)]);
        if let Err(e) = run_block(&s, block) {
            failures.push(e);
        }
    }
    eprintln!("{} runnable blocks in {:?}", blocks.len(), t.elapsed());
    assert!(
        failures.is_empty(),
        "{} of {} runnable blocks failed:\n\n{}",
        failures.len(),
        blocks.len(),
        failures.join("\n\n")
    );
}

/// The harness itself: a failing command fails its block, and the failure names file:line.
#[test]
fn a_failing_block_is_reported_with_its_file_and_line() {
    let s = Server::start_with_env("", true, &[("BIRCH_ROOT_PASSWORD", DOC_ROOT_PW)]);
    let wrong = Block {
        at: "docs/example.md:7".into(),
        info: vec!["sh".into(), "runnable".into()],
        body: "ldapwhoami -x -H ldap://127.0.0.1:3389 -D uid=bob,ou=people,dc=example,dc=org -w wrong\n".into(),
        output: None,
    };
    let e = run_block(&s, &wrong).expect_err("a wrong password fails the block");
    assert!(e.starts_with("docs/example.md:7: exited with"), "{e}");
    assert!(e.contains("Invalid credentials (49)"), "{e}");
    // -W, -A and -S are answered, and a changed password is remembered.
    let prompts = Block {
        at: "docs/example.md:9".into(),
        info: vec![],
        body: "ldappasswd -x -D uid=bob,ou=people,dc=example,dc=org -W -A -S\n\
               ldapwhoami -x -D uid=bob,ou=people,dc=example,dc=org -W | grep -qx 'dn:uid=bob,ou=people,dc=example,dc=org'\n\
               test \"$(birch --version)\" != ''\n"
            .into(),
        output: None,
    };
    run_block(&s, &prompts).unwrap_or_else(|e| panic!("{e}"));
    // An output block: its lines must come out, in order.
    let mut whoami = Block {
        at: "docs/example.md:11".into(),
        info: vec![],
        body: "ldapwhoami -x -D uid=alice,ou=people,dc=example,dc=org -W\necho done\n".into(),
        output: Some("dn:uid=alice,ou=people,dc=example,dc=org\n...\ndone\n".into()),
    };
    run_block(&s, &whoami).unwrap_or_else(|e| panic!("{e}"));
    whoami.output = Some("done\ndn:uid=alice,ou=people,dc=example,dc=org\n".into());
    let e = run_block(&s, &whoami).expect_err("out of order");
    assert!(e.starts_with("docs/example.md:11: the output lacks the line \"dn:uid=alice"), "{e}");
}

/// The subcommands `birch --help` lists.
fn subcommands() -> Vec<String> {
    let out = Command::new(birch_bin()).arg("--help").output().expect("birch --help");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let list = text.split("Commands:").nth(1).expect("a Commands: section");
    list.lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .filter(|c| c != "help")
        .collect()
}

/// The README's command table has a row for every subcommand.
#[test]
fn the_readme_command_table_lists_every_subcommand() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let commands = subcommands();
    assert!(commands.len() >= 9, "{commands:?}");
    for c in &commands {
        assert!(readme.contains(&format!("| `birch {c}")), "README.md's command table has no row for `birch {c}`");
    }
}

/// `birch check --help` says everything the check verifies.
#[test]
fn birch_check_help_says_what_it_checks() {
    let out = Command::new(birch_bin()).args(["check", "--help"]).output().expect("birch check --help");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    for what in ["indexes", "parent", "suffix", "schema", "unknown scheme"] {
        assert!(text.contains(what), "`birch check --help` does not mention {what:?}:\n{text}");
    }
}

/// The attributes of an entry to add.
type Attrs = Vec<(&'static str, HashSet<&'static str>)>;

/// docs/acl.md's ou=physics variation is the campus policy with one rule in front, and with it
/// the department admins write in ou=physics only while the helpdesk, self-service and the
/// service accounts keep what the campus policy gives them.
#[tokio::test(flavor = "multi_thread")]
async fn the_physics_variation_of_acl_md_keeps_the_campus_policy() {
    use birch_server::config::Config;
    let acl = repo().join("docs/acl.md");
    let toml = blocks(&acl)
        .into_iter()
        .find(|b| b.info.first().map(String::as_str) == Some("toml") && b.body.contains("physics-admins"))
        .expect("docs/acl.md has the physics example");
    let cfg = Config::parse(&toml.body, &toml.at).unwrap_or_else(|e| panic!("{e}"));
    let rules = cfg.access.rules.clone().expect("rules");
    let campus = birch_server::access::campus::rules(&Config::default());
    assert!(rules[0].contains("ou=physics"), "{}: the department rule first", toml.at);
    assert_eq!(rules[1..], campus[..], "{}: the campus policy, unchanged, after the department rule", toml.at);

    let s = Server::start_with(&toml.body, true);
    const PHYS: &str = "ou=physics,ou=people,dc=example,dc=org";
    const PHIL: &str = "uid=phil,ou=physics,ou=people,dc=example,dc=org";
    bounded(Duration::from_secs(60), async {
        let mut root = connect_as(&s.url(), ROOT_DN, common::ROOT_PW).await;
        let adds: Vec<(&str, Attrs)> = vec![
            (PHYS, vec![("objectClass", HashSet::from(["organizationalUnit"])), ("ou", HashSet::from(["physics"]))]),
            (
                PHIL,
                vec![
                    ("objectClass", HashSet::from(["inetOrgPerson"])),
                    ("uid", HashSet::from(["phil"])),
                    ("cn", HashSet::from(["Phil"])),
                    ("sn", HashSet::from(["Physicist"])),
                    ("mail", HashSet::from(["phil@example.org"])),
                ],
            ),
            (
                "cn=physics-admins,ou=groups,dc=example,dc=org",
                vec![
                    ("objectClass", HashSet::from(["groupOfNames"])),
                    ("cn", HashSet::from(["physics-admins"])),
                    ("member", HashSet::from([BOB])),
                ],
            ),
            (
                "cn=helpdesk,ou=groups,dc=example,dc=org",
                vec![
                    ("objectClass", HashSet::from(["groupOfNames"])),
                    ("cn", HashSet::from(["helpdesk"])),
                    ("member", HashSet::from([CHENWEI])),
                ],
            ),
        ];
        for (dn, attrs) in adds {
            assert_eq!(root.with_timeout(OP_TIMEOUT).add(dn, attrs).await.expect("add").rc, 0, "add {dn}");
        }
        let describe = |who: &'static str| vec![Mod::Replace("description", HashSet::from([who]))];
        // bob, a physics admin: writes in ou=physics, nowhere else.
        let mut bob = connect_as(&s.url(), BOB, "bob-secret").await;
        assert_eq!(bob.modify(PHIL, describe("bob")).await.expect("modify").rc, 0);
        assert_eq!(bob.modify(ALICE, describe("bob")).await.expect("modify").rc, 50);
        // Self-service: loginShell and shadowLastChange.
        let own = vec![
            Mod::Replace("loginShell", HashSet::from(["/bin/zsh"])),
            Mod::Replace("shadowLastChange", HashSet::from(["20000"])),
        ];
        assert_eq!(bob.modify(BOB, own).await.expect("modify").rc, 0);
        // The service account reads personal data; another user does not.
        let mut nslcd = connect_as(&s.url(), NSLCD, "nslcd-secret").await;
        let (e, _) = search(&mut nslcd, PHIL, Scope::Base, "(objectClass=*)", &["mail"]).await;
        assert_eq!(e[0].attrs.get("mail"), Some(&vec!["phil@example.org".to_string()]));
        let (e, _) = search(&mut bob, ALICE, Scope::Base, "(objectClass=*)", &["mail"]).await;
        assert!(!e[0].attrs.contains_key("mail"), "bob reads alice's mail: {:?}", e[0].attrs);
        // chenwei, helpdesk: resets a password inside and outside ou=physics.
        let mut hd = connect_as(&s.url(), CHENWEI, "chenwei-secret").await;
        for dn in [PHIL, ALICE] {
            let pm = PasswordModify { user_id: Some(dn), old_pass: None, new_pass: Some("Reset-by-helpdesk-1") };
            assert_eq!(hd.extended(pm).await.expect("passmod").1.rc, 0, "helpdesk resets {dn}");
        }
    })
    .await;
}
