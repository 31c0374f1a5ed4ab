//! Where the command line's secrets come from: the environment, or a file
//! named by a `--…-file PATH` option (`-` for standard input). Never an
//! option's value: `--token VALUE` shows in `ps` to every local user and stays
//! in shell history, so such an option is refused, with what to do instead.
//! Nothing here prints or logs a secret.

use std::ffi::OsString;
use std::io::Read;
use std::path::Path;

use super::credential::Secret;

/// One secret the command line takes, and the names that lead to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretOption {
    /// The refused option that would carry the value itself.
    pub flag: &'static str,
    pub env: &'static str,
    pub file_flag: &'static str,
}

pub const VERIFICATION_TOKEN: SecretOption = SecretOption {
    flag: "--token",
    env: "REDOX_VERIFICATION_TOKEN",
    file_flag: "--token-file",
};
pub const SIGV4_SECRET_ACCESS_KEY: SecretOption = SecretOption {
    flag: "--secret-access-key",
    env: "REDOX_SIGV4_SECRET_ACCESS_KEY",
    file_flag: "--secret-access-key-file",
};
pub const SIGV4_SESSION_TOKEN: SecretOption = SecretOption {
    flag: "--session-token",
    env: "REDOX_SIGV4_SESSION_TOKEN",
    file_flag: "--session-token-file",
};
pub const BEARER_TOKEN: SecretOption = SecretOption {
    flag: "--bearer",
    env: "REDOX_BEARER_TOKEN",
    file_flag: "--bearer-file",
};
pub const OAUTH_CLIENT_SECRET: SecretOption = SecretOption {
    flag: "--client-secret",
    env: "REDOX_OAUTH_CLIENT_SECRET",
    file_flag: "--client-secret-file",
};

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretInputError {
    #[error(
        "{} takes no value on the command line: it would show in `ps` to every local user and \
         stay in your shell history. Set {} instead, or give {} PATH ({} - reads it from \
         standard input)",
        .0.flag, .0.env, .0.file_flag, .0.file_flag
    )]
    OnCommandLine(SecretOption),
    #[error("{file_flag} {path}: {detail}")]
    Unreadable {
        file_flag: &'static str,
        path: String,
        detail: String,
    },
    #[error("{0} is empty")]
    Empty(String),
    #[error("{0} is not UTF-8 text")]
    NotText(String),
    #[error(
        "{0} and {1} both read standard input (-); only one secret can come from it: put the \
         other in a file or in its environment variable"
    )]
    StdinTwice(&'static str, &'static str),
}

type EnvLookup = Box<dyn Fn(&str) -> Option<OsString>>;
type StdinRead = Box<dyn FnMut() -> std::io::Result<Vec<u8>>>;

/// Reads each secret once, from its file or its environment variable.
pub struct SecretReader {
    env: EnvLookup,
    stdin: StdinRead,
    stdin_used_by: Option<&'static str>,
}

impl SecretReader {
    /// The process's environment and standard input.
    pub fn from_process() -> SecretReader {
        SecretReader::new(
            Box::new(|name: &str| std::env::var_os(name)),
            Box::new(|| {
                let mut bytes = Vec::new();
                std::io::stdin().read_to_end(&mut bytes)?;
                Ok(bytes)
            }),
        )
    }

    pub fn new(env: EnvLookup, stdin: StdinRead) -> SecretReader {
        SecretReader {
            env,
            stdin,
            stdin_used_by: None,
        }
    }

    /// The secret of `option`: refused when its value was given on the
    /// command line (`given_as_value`); else the file, when named; else the
    /// environment variable, when set and not empty; else `None`.
    pub fn read(
        &mut self,
        option: SecretOption,
        given_as_value: bool,
        file: Option<&Path>,
    ) -> Result<Option<Secret>, SecretInputError> {
        if given_as_value {
            return Err(SecretInputError::OnCommandLine(option));
        }
        if let Some(path) = file {
            let (origin, bytes) = if path == Path::new("-") {
                if let Some(first) = self.stdin_used_by {
                    return Err(SecretInputError::StdinTwice(first, option.file_flag));
                }
                self.stdin_used_by = Some(option.file_flag);
                let origin = format!("{} - (standard input)", option.file_flag);
                let bytes = (self.stdin)().map_err(|e| SecretInputError::Unreadable {
                    file_flag: option.file_flag,
                    path: "-".into(),
                    detail: e.to_string(),
                })?;
                (origin, bytes)
            } else {
                let origin = format!("{} {}", option.file_flag, path.display());
                let bytes = std::fs::read(path).map_err(|e| SecretInputError::Unreadable {
                    file_flag: option.file_flag,
                    path: path.display().to_string(),
                    detail: e.to_string(),
                })?;
                (origin, bytes)
            };
            return secret_text(bytes, origin).map(Some);
        }
        match (self.env)(option.env) {
            Some(value) if !value.is_empty() => value
                .into_string()
                .map(|text| Some(Secret::new(text)))
                .map_err(|_| SecretInputError::NotText(option.env.into())),
            _ => Ok(None),
        }
    }
}

/// A file's secret: UTF-8, without the line break(s) an editor or `echo`
/// leaves at the end, and not empty.
fn secret_text(bytes: Vec<u8>, origin: String) -> Result<Secret, SecretInputError> {
    let mut text =
        String::from_utf8(bytes).map_err(|_| SecretInputError::NotText(origin.clone()))?;
    let kept = text.trim_end_matches(['\r', '\n']).len();
    text.truncate(kept);
    if text.is_empty() {
        return Err(SecretInputError::Empty(origin));
    }
    Ok(Secret::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn reader(env: &[(&str, &str)], stdin: &str) -> SecretReader {
        let env: HashMap<String, OsString> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        let stdin = stdin.as_bytes().to_vec();
        SecretReader::new(
            Box::new(move |name| env.get(name).cloned()),
            Box::new(move || Ok(stdin.clone())),
        )
    }

    fn exposed(secret: Result<Option<Secret>, SecretInputError>) -> Option<String> {
        secret.unwrap().map(|s| s.expose().to_owned())
    }

    #[test]
    fn a_value_on_the_command_line_is_refused_with_the_ways_that_work() {
        let mut reader = reader(&[("REDOX_VERIFICATION_TOKEN", "from-env")], "");
        for option in [
            VERIFICATION_TOKEN,
            SIGV4_SECRET_ACCESS_KEY,
            SIGV4_SESSION_TOKEN,
            OAUTH_CLIENT_SECRET,
        ] {
            let error = reader.read(option, true, None).unwrap_err();
            let text = error.to_string();
            for name in [option.flag, option.env, option.file_flag, "ps", "history"] {
                assert!(text.contains(name), "{text}");
            }
        }
    }

    #[test]
    fn a_file_wins_over_the_environment_and_loses_its_final_line_break() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "from-file\r\n").unwrap();
        let mut reader = reader(&[("REDOX_VERIFICATION_TOKEN", "from-env")], "");
        assert_eq!(
            exposed(reader.read(VERIFICATION_TOKEN, false, Some(&path))).as_deref(),
            Some("from-file")
        );
        assert_eq!(
            exposed(reader.read(VERIFICATION_TOKEN, false, None)).as_deref(),
            Some("from-env")
        );
        // Inner spaces and leading ones are part of the secret.
        std::fs::write(&path, " a b \n\n").unwrap();
        assert_eq!(
            exposed(reader.read(VERIFICATION_TOKEN, false, Some(&path))).as_deref(),
            Some(" a b ")
        );
    }

    #[test]
    fn standard_input_serves_one_secret_only() {
        let mut reader = reader(&[], "secret-on-stdin\n");
        let dash = Path::new("-");
        assert_eq!(
            exposed(reader.read(SIGV4_SECRET_ACCESS_KEY, false, Some(dash))).as_deref(),
            Some("secret-on-stdin")
        );
        assert_eq!(
            reader.read(SIGV4_SESSION_TOKEN, false, Some(dash)).err(),
            Some(SecretInputError::StdinTwice(
                "--secret-access-key-file",
                "--session-token-file"
            ))
        );
    }

    #[test]
    fn empty_missing_and_unreadable_sources_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let mut reader = reader(&[("REDOX_OAUTH_CLIENT_SECRET", "")], "");
        let error = reader
            .read(OAUTH_CLIENT_SECRET, false, Some(&empty))
            .unwrap_err();
        assert!(matches!(&error, SecretInputError::Empty(o) if o.contains("--client-secret-file")));
        let missing = dir.path().join("missing");
        let error = reader
            .read(OAUTH_CLIENT_SECRET, false, Some(&missing))
            .unwrap_err();
        assert!(
            error.to_string().starts_with("--client-secret-file "),
            "{error}"
        );
        // An empty variable is as good as none.
        assert!(exposed(reader.read(OAUTH_CLIENT_SECRET, false, None)).is_none());
        let binary = dir.path().join("binary");
        std::fs::write(&binary, [0xff, 0xfe]).unwrap();
        assert!(matches!(
            reader.read(OAUTH_CLIENT_SECRET, false, Some(&binary)),
            Err(SecretInputError::NotText(_))
        ));
    }
}
