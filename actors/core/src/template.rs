//! Step scripts are Jinja templates (as in the original): checking and rendering them.
//!
//! Bash's own `${#var}` and `${#array[@]}` (lengths) contain `{#`, which opens a Jinja comment;
//! the original's scripts are full of them. Before Jinja reads a script, every `${#` becomes
//! `${{ '{#' }}`, which renders back to `${#`, so bash gets what was written and the rest of the
//! script stays a template. Line numbers in messages are unchanged.
//!
//! A template is user input rendered by the operator for every tenant: rendering is bounded.
//! It may spend at most [`FUEL`] instructions (nested loops over large ranges end with an error
//! instead of running for hours) and write at most [`MAX_RENDERED_BYTES`]; minijinja itself
//! refuses ranges over 100,000 items and repetitions over 100 MB.

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

/// Instructions a script's template may spend in one rendering. The original's largest scripts
/// (a loop over `jobids`, a few conditionals) spend hundreds; a million takes about a tenth of
/// a second.
pub const FUEL: u64 = 1_000_000;

/// The largest rendered script: a Job's step files travel in its Pod's annotations (256 KiB in
/// all) or a ConfigMap (1 MiB).
pub const MAX_RENDERED_BYTES: usize = 1024 * 1024;

fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_fuel(Some(FUEL));
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
    let mut out = Bounded { text: Vec::new(), full: false };
    let rendered = template.render_captured_to(minijinja::Value::from(minijinja::value::Serde(vars)), &mut out);
    if out.full {
        return Err(format!("renders to more than {} KiB (the largest step script)", MAX_RENDERED_BYTES / 1024));
    }
    rendered.map_err(|e| describe(&e))?;
    String::from_utf8(out.text).map_err(|e| format!("renders to text that is not UTF-8: {e}"))
}

/// A writer that takes at most [`MAX_RENDERED_BYTES`], then fails (and says so in `full`).
struct Bounded {
    text: Vec<u8>,
    full: bool,
}

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.text.len() + buf.len() > MAX_RENDERED_BYTES {
            self.full = true;
            return Err(std::io::Error::other("the rendered script is too large"));
        }
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A template error as `line N of the script: what went wrong`.
fn describe(e: &minijinja::Error) -> String {
    let what = match e.detail() {
        _ if e.kind() == minijinja::ErrorKind::OutOfFuel => {
            format!("takes more than the {FUEL} template steps a script may (a loop over too much?)")
        }
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
    fn a_template_that_would_run_for_hours_runs_out_of_fuel() {
        let script = "{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}x{% endfor %}{% endfor %}{% endfor %}";
        let started = std::time::Instant::now();
        let err = render(script, &Vars::default()).expect_err("bounded");
        assert!(err.contains("takes more than the 1000000 template steps"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
        // Ordinary scripts are far from the limit: a loop of a thousand lines renders.
        let lines = render("{% for i in range(1000) %}echo {{ i }}\n{% endfor %}", &Vars::default()).expect("renders");
        assert_eq!(lines.lines().count(), 1000);
    }

    #[test]
    fn a_template_that_renders_gigabytes_stops_at_the_size_limit() {
        let err = render("{% set s = 'x' * 10000000 %}{{ s }}", &Vars::default()).expect_err("too large");
        assert!(err.contains("renders to more than 1024 KiB"), "{err}");
        let err =
            render("{% for i in range(10000) %}{{ 'y' * 1000 }}{% endfor %}", &Vars::default()).expect_err("too large");
        assert!(err.contains("renders to more than"), "{err}");
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
