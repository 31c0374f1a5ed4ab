//! The walkthroughs of README.md: its shell blocks and the output it shows
//! next to them, found by the markers of the README's Development section.
//!
//! - `<!-- walkthrough-setup -->` before the one shell block every
//!   walkthrough assumes (the PATH and the shared helpers);
//! - `<!-- walkthrough: NAME -->`, or `<!-- walkthrough: NAME needs: WHAT -->`,
//!   before a shell block; blocks with the same name are one walkthrough, in
//!   README order (prose may stand between them);
//! - `<!-- output: NAME -->` before a plain block: output walkthrough NAME
//!   prints (before or after the walkthrough in the README);
//! - inside a walkthrough's block, a comment `#> text` is a line of output.
//!
//! Every shell block must have a marker: one without is an error, so that no
//! block is left out silently.

use std::collections::BTreeMap;

/// What a walkthrough needs beyond the release binaries, curl, openssl and
/// Python.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The moto emulator from `.venv` (the walkthrough starts it itself).
    Emulator,
    /// Something the test cannot have: the walkthrough is skipped, by name.
    Unavailable(&'static str),
}

/// The words `needs:` accepts, and what each means.
pub fn need(word: &str) -> Option<Need> {
    Some(match word {
        "emulator" => Need::Emulator,
        "aws" => Need::Unavailable("needs an AWS account"),
        "google" => Need::Unavailable("needs a Google Cloud account (gcloud)"),
        "docker" => Need::Unavailable("needs a container daemon (Docker)"),
        "cargo-lambda" => Need::Unavailable(
            "`cargo lambda watch` builds the crate itself (a second, debug build); \
             `make test` sends the same events through it on the release build (`make lambda-events`)",
        ),
        "repo" => Need::Unavailable(
            "runs make or cargo in the repository (builds); `make test` runs those targets itself",
        ),
        _ => return None,
    })
}

/// A run of lines taken from the README, with the line number of the first.
#[derive(Debug, Clone)]
pub struct Lines {
    pub first_line: usize,
    pub lines: Vec<String>,
}

/// One line of shown output and where the README shows it.
#[derive(Debug, Clone)]
pub struct ShownLine {
    pub readme_line: usize,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Walkthrough {
    pub name: String,
    pub needs: Vec<Need>,
    /// Its shell blocks, in README order.
    pub blocks: Vec<Lines>,
    /// The `#>` lines of its blocks, in README order.
    pub inline: Vec<ShownLine>,
    /// Its `<!-- output: NAME -->` blocks.
    pub outputs: Vec<Vec<ShownLine>>,
}

impl Walkthrough {
    /// Why it is skipped, if it is.
    pub fn skip_reason(&self) -> Option<&'static str> {
        self.needs.iter().find_map(|need| match need {
            Need::Unavailable(why) => Some(*why),
            Need::Emulator => None,
        })
    }

    pub fn needs_emulator(&self) -> bool {
        self.needs.contains(&Need::Emulator)
    }

    /// The output it must print: each sequence in this order (the `#>`
    /// lines, then each output block; other lines may come between).
    pub fn shown(&self) -> Vec<&[ShownLine]> {
        std::iter::once(self.inline.as_slice())
            .chain(self.outputs.iter().map(Vec::as_slice))
            .filter(|lines| !lines.is_empty())
            .collect()
    }

    /// Its commands, as one text, without the `#>` lines (for the rule
    /// that a value the commands spell out is shown literally).
    pub fn commands(&self) -> String {
        self.blocks
            .iter()
            .flat_map(|b| b.lines.iter())
            .filter(|l| shown_in_shell(l).is_none())
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Debug)]
pub struct Readme {
    pub setup: Lines,
    pub walkthroughs: Vec<Walkthrough>,
}

enum Marker {
    Setup,
    Walkthrough { name: String, needs: Vec<Need> },
    Output { name: String },
}

fn is_shell(info: &str) -> bool {
    matches!(
        info.split_whitespace().next().unwrap_or(""),
        "sh" | "bash" | "shell" | "console"
    )
}

/// Parses one marker comment; `Ok(None)` for a line that is not one.
fn marker(line: &str) -> Result<Option<Marker>, String> {
    let Some(inner) = line
        .trim()
        .strip_prefix("<!--")
        .and_then(|rest| rest.strip_suffix("-->"))
        .map(str::trim)
    else {
        return Ok(None);
    };
    if inner == "walkthrough-setup" {
        return Ok(Some(Marker::Setup));
    }
    if let Some(name) = inner.strip_prefix("output:") {
        return Ok(Some(Marker::Output {
            name: name.trim().to_owned(),
        }));
    }
    let Some(rest) = inner.strip_prefix("walkthrough:") else {
        return Ok(None);
    };
    let (name, needs) = match rest.split_once("needs:") {
        Some((name, needs)) => (name.trim(), needs),
        None => (rest.trim(), ""),
    };
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid_name {
        return Err(format!(
            "walkthrough name {name:?}: use lower-case letters, digits and -"
        ));
    }
    let needs = needs
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(|w| {
            need(w).ok_or_else(|| {
                format!(
                    "needs: {w:?} is not one of emulator, aws, google, docker, cargo-lambda, repo"
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Marker::Walkthrough {
        name: name.to_owned(),
        needs,
    }))
}

/// The `#>` comment of a shell line, if it is one.
fn shown_in_shell(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix("#>")?;
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

/// Finds every marker and fenced block of `text`. All problems are
/// returned together, each with its line number.
pub fn parse(text: &str) -> Result<Readme, Vec<String>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut errors = Vec::new();
    let mut setup: Option<Lines> = None;
    let mut walkthroughs: Vec<Walkthrough> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut pending: Option<(usize, Marker)> = None;
    let mut outputs: Vec<(usize, String, Vec<ShownLine>)> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let number = i + 1;
        match marker(line) {
            Err(problem) => errors.push(format!("README.md:{number}: {problem}")),
            Ok(Some(found)) => {
                if let Some((at, _)) = &pending {
                    errors.push(format!(
                        "README.md:{at}: a marker must stand right before its fenced block"
                    ));
                }
                pending = Some((number, found));
                i += 1;
                continue;
            }
            Ok(None) => {}
        }
        let trimmed = line.trim_start();
        let Some(info) = trimmed.strip_prefix("```") else {
            if !line.trim().is_empty()
                && let Some((at, _)) = pending.take()
            {
                errors.push(format!(
                    "README.md:{at}: a marker must stand right before its fenced block"
                ));
            }
            i += 1;
            continue;
        };
        // A fenced block: its content, with the fence's indentation removed.
        let indent = line.len() - trimmed.len();
        let mut content = Vec::new();
        let mut j = i + 1;
        while j < lines.len() && !lines[j].trim_start().starts_with("```") {
            let body = lines[j];
            let strip = body.len() - body.trim_start().len();
            content.push(body[strip.min(indent)..].to_owned());
            j += 1;
        }
        let block = Lines {
            first_line: number + 1,
            lines: content,
        };
        let shell = is_shell(info.trim());
        match (pending.take(), shell) {
            (None, false) => {}
            (None, true) => errors.push(format!(
                "README.md:{number}: a shell block without a marker: put \
                 `<!-- walkthrough: NAME -->` before it (with `needs: aws`, `google`, \
                 `docker`, `cargo-lambda` or `repo` when the test cannot run it; README: \
                 Development)"
            )),
            (Some((at, Marker::Setup)), true) => {
                if setup.is_some() {
                    errors.push(format!("README.md:{at}: a second walkthrough-setup block"));
                }
                if walkthroughs.iter().any(|w| w.skip_reason().is_none()) {
                    errors.push(format!(
                        "README.md:{at}: the walkthrough-setup block must come before every walkthrough the test runs"
                    ));
                }
                setup = Some(block);
            }
            (Some((at, Marker::Walkthrough { name, needs })), true) => {
                let shown: Vec<ShownLine> = block
                    .lines
                    .iter()
                    .enumerate()
                    .filter_map(|(k, l)| {
                        shown_in_shell(l).map(|text| ShownLine {
                            readme_line: block.first_line + k,
                            text: text.to_owned(),
                        })
                    })
                    .collect();
                match index.get(&name) {
                    Some(&w) => {
                        let walkthrough = &mut walkthroughs[w];
                        if !needs.is_empty() && needs != walkthrough.needs {
                            errors.push(format!(
                                "README.md:{at}: walkthrough {name} continues with other needs than it began with"
                            ));
                        }
                        walkthrough.blocks.push(block);
                        walkthrough.inline.extend(shown);
                    }
                    None => {
                        index.insert(name.clone(), walkthroughs.len());
                        walkthroughs.push(Walkthrough {
                            name,
                            needs,
                            blocks: vec![block],
                            inline: shown,
                            outputs: Vec::new(),
                        });
                    }
                }
            }
            // Resolved at the end: the output may be shown before the walkthrough.
            (Some((at, Marker::Output { name })), false) => outputs.push((
                at,
                name,
                block
                    .lines
                    .iter()
                    .enumerate()
                    .map(|(k, l)| ShownLine {
                        readme_line: block.first_line + k,
                        text: l.clone(),
                    })
                    .collect(),
            )),
            (Some((at, Marker::Output { .. })), true) => errors.push(format!(
                "README.md:{at}: an output marker before a shell block (output blocks are plain ``` blocks)"
            )),
            (Some((at, _)), false) => errors.push(format!(
                "README.md:{at}: a walkthrough marker before a block that is not a shell block"
            )),
        }
        i = j + 1;
    }
    if let Some((at, _)) = pending {
        errors.push(format!("README.md:{at}: a marker without a block after it"));
    }
    for (at, name, shown) in outputs {
        match index.get(&name) {
            Some(&w) => walkthroughs[w].outputs.push(shown),
            None => errors.push(format!(
                "README.md:{at}: output of {name:?}, but no walkthrough has that name"
            )),
        }
    }
    let Some(setup) = setup else {
        errors.push("README.md: no `<!-- walkthrough-setup -->` block".to_owned());
        return Err(errors);
    };
    if errors.is_empty() {
        Ok(Readme {
            setup,
            walkthroughs,
        })
    } else {
        Err(errors)
    }
}
