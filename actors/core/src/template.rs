//! Step scripts are Jinja templates (as in the original): checking and rendering them.
//!
//! Bash's own `${#var}` and `${#array[@]}` (lengths) contain `{#`, which opens a Jinja comment;
//! the original's scripts are full of them. Before Jinja reads a script, every `${#` becomes
//! `${{ '{#' }}`, which renders back to `${#`, so bash gets what was written and the rest of the
//! script stays a template. Line numbers in messages are unchanged.

use std::borrow::Cow;

use serde::Serialize;

/// The variables a step script's template sees.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Vars {
    /// The sequence's job id.
    pub jobid: String,
    /// `[jobid]` (the original's templates loop over `jobids`).
    pub jobids: Vec<String>,
    /// Where the step's `app-config` is.
    pub configfile: String,
    /// Working directory of the job (`$outpath`).
    pub workdir: String,
    /// Tag pulled before the script.
    pub pull: Option<String>,
    /// Tag pushed after it.
    pub push: Option<String>,
    /// Registry host or store directory (None: no store).
    pub registry: Option<String>,
    /// Whether the registry talks plain HTTP.
    pub plain_http: bool,
    /// Nodes of the job.
    pub nodes: u32,
    /// Cores per task.
    pub cores_per_task: u32,
    /// Tasks, if set.
    pub tasks: Option<u32>,
}

/// `${#` (bash's length operator) kept away from Jinja's comment syntax.
fn protect_bash(source: &str) -> Cow<'_, str> {
    if source.contains("${#") { Cow::Owned(source.replace("${#", "${{ '{#' }}")) } else { Cow::Borrowed(source) }
}

fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    // Scripts are shell, never HTML, whatever the step is called.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    // Unset values (`tasks`, `pull`, `push`) are None, so `is none` works as in the original,
    // but they render empty rather than as a literal `none` in the shell script.
    env.set_formatter(
        |out, state, value| {
            if value.is_none() { Ok(()) } else { minijinja::escape_formatter(out, state, value) }
        },
    );
    env
}

/// Checks that a script compiles as a Jinja template.
pub fn check(source: &str) -> Result<(), String> {
    let env = environment();
    env.template_from_str(&protect_bash(source))
        .map(|_| ())
        .map_err(|e| format!("is not a valid Jinja template: {}", describe(&e)))
}

/// Renders a script with `vars`; the error says what went wrong and on which line.
pub fn render(source: &str, vars: &Vars) -> Result<String, String> {
    let env = environment();
    let source = protect_bash(source);
    let template = env.template_from_named_str("script", &source).map_err(|e| describe(&e))?;
    template.render(minijinja::Value::from(minijinja::value::Serde(vars))).map_err(|e| describe(&e))
}

/// A template error as `line N of the script: what went wrong`.
fn describe(e: &minijinja::Error) -> String {
    let what = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    match e.line() {
        Some(line) => format!("line {line} of the script: {what}"),
        None => what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_length_operators_are_not_jinja_comments() {
        let script =
            "files=(a b c)\necho \"${#files[@]} files\"\nname={{ jobid }}\necho ${#name}\n{# a real comment #}done\n";
        assert!(check(script).is_ok(), "{:?}", check(script));
        let vars = Vars { jobid: "job_000000001".into(), ..Vars::default() };
        let out = render(script, &vars).expect("renders");
        assert_eq!(out, "files=(a b c)\necho \"${#files[@]} files\"\nname=job_000000001\necho ${#name}\ndone");
    }

    #[test]
    fn errors_name_the_line() {
        assert!(check("{{ jobid }}").is_ok());
        let err = check("echo\n{% if %}").expect_err("invalid");
        assert!(err.contains("line 2"), "{err}");
        let err = render("a\nb\n{{ config.nnodes }}", &Vars::default()).expect_err("undefined attribute");
        assert!(err.contains("line 3"), "{err}");
    }
}
