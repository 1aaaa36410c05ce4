//! Passwords of the admin commands: generated ones, and ones read without echo.

use super::error::{Exit, Failure};
use rand::Rng;
use std::io::IsTerminal;

/// Characters of generated passwords: letters and digits without the look-alikes
/// (0/O, 1/l/I), so a password read aloud or from paper is typed right.
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// Length of a person's temporary password (about 93 bits).
pub const TEMPORARY_LEN: usize = 16;
/// Length of a service account's password (about 186 bits).
pub const SERVICE_LEN: usize = 32;

/// A random password of `len` characters from the operating system's generator.
pub fn generate(len: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..len).map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())])).collect()
}

/// A new password typed by the operator: asked twice without echo on a terminal, or the
/// first line of standard input when that is not a terminal (scripts).
pub fn read_new(prompt: &str) -> Result<String, Failure> {
    let failed = |e: std::io::Error| Failure::other(format!("reading the password: {e}"));
    let pw = if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password(format!("{prompt}: ")).map_err(failed)?;
        let b = rpassword::prompt_password(format!("{prompt} (again): ")).map_err(failed)?;
        if a != b {
            return Err(Failure::other("the two passwords differ"));
        }
        a
    } else {
        first_line(std::io::stdin().lock()).map_err(failed)?
    };
    if pw.is_empty() {
        return Err(Failure::new(Exit::Error, "empty password"));
    }
    Ok(pw)
}

/// The first line of `r`, without its line end.
pub fn first_line(mut r: impl std::io::BufRead) -> std::io::Result<String> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_differ_and_use_the_alphabet() {
        let (a, b) = (generate(SERVICE_LEN), generate(SERVICE_LEN));
        assert_eq!(a.len(), SERVICE_LEN);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)));
    }
}
