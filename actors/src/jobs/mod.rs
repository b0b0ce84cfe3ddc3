//! Builders for what runs a step: the step script, its ConfigMap, and the Job / JobSet /
//! MiniCluster objects.

pub mod script;
