//! The step script: the user's template rendered and wrapped with artifact pull and push.

/// Checks that a script compiles as a Jinja template.
pub fn check_template(source: &str) -> Result<(), String> {
    let env = minijinja::Environment::new();
    env.template_from_str(source).map(|_| ()).map_err(|e| format!("is not a valid Jinja template: {e}"))
}
