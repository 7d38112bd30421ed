//! The workspace send policy as a setting: which one is in force at start (the `--policy`
//! file; else the one stored by `PUT /api/policy`; else the defaults), and replacing it
//! through the API: read strictly (every problem named by its field), refused when an active
//! flow needs what it lacks (a calendar), stored, then put in force in this process at once.
//!
//! Other processes sharing the database read the stored policy when they start.

use std::sync::Arc;

use flows::Policy;
use sea_orm::ConnectionTrait;
use serde_json::Value;

use super::{Error, Result, Services};
use crate::runtime::flow_cache::FlowCache;
use crate::send_policy::{SendPolicy, Source};
use crate::store::flows as flow_store;

/// The `settings` key of the stored policy.
const KEY: &str = "send_policy";

/// The policy in force at start: the file's when `file` names one (`configured` is what it
/// holds), else the stored one, else `configured` (the defaults).
pub async fn at_start(c: &impl ConnectionTrait, configured: Policy, file: Option<String>) -> Result<SendPolicy> {
    if let Some(path) = file {
        return Ok(SendPolicy::new(configured, Source::File(path)));
    }
    match flow_store::setting_value(c, KEY).await? {
        Some(text) => {
            let policy = Policy::from_json(&text).map_err(|why| Error::Inconsistent {
                what: format!("the stored send policy cannot be read: {why}"),
                source: None,
            })?;
            Ok(SendPolicy::new(policy, Source::Stored))
        }
        None => Ok(SendPolicy::new(configured, Source::Default)),
    }
}

/// Why `policy` cannot be in force: each active flow that needs what it lacks (a calendar
/// lost would quietly open that calendar's closed days), in words.
pub async fn misfits(c: &impl ConnectionTrait, flows: &FlowCache, policy: &Policy) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for (flow, version) in flow_store::active(c).await? {
        if let Ok(compiled) = flows.get(c, flow, version).await
            && let Err(problems) = policy.check_flow(&compiled)
        {
            found.push(format!(
                "active flow '{}' (#{flow}) does not fit the send policy: {problems}",
                compiled.name()
            ));
        }
    }
    Ok(found)
}

/// Replaces the policy in force with `document` (the `--policy` file's format; a `source` key,
/// as `GET /api/policy` shows, is ignored), stores it and puts it in force in this process.
/// Refused (409) while the policy comes from a file, and (422) naming the field of each
/// problem, or `calendars` when an active flow needs a calendar it lacks.
pub async fn replace(s: &Services, mut document: Value) -> Result<Arc<Policy>> {
    if let Source::File(path) = s.policy.source() {
        return Err(Error::Conflict(format!(
            "the send policy comes from the file {path}: change it there"
        )));
    }
    if let Value::Object(object) = &mut document {
        object.remove("source");
    }
    let policy: Policy = flows::json::typed_at(document.clone()).map_err(|e| {
        let field = match e.path.as_str() {
            "" => "body".to_string(),
            path if path.starts_with("channels.?") => channel_of(&document).unwrap_or_else(|| path.to_string()),
            path => path.to_string(),
        };
        Error::Fields(vec![(field, e.message)])
    })?;
    let problems = policy.problems();
    if !problems.is_empty() {
        return Err(Error::Fields(problems));
    }
    let text = serde_json::to_string(&policy).map_err(|e| Error::Inconsistent {
        what: "a send policy could not be written as JSON".into(),
        source: Some(Box::new(e)),
    })?;
    // No flow is stored against the policy being replaced meanwhile.
    let _change = s.policy.change().await;
    let misfits = misfits(&s.db, &s.flows, &policy).await?;
    if !misfits.is_empty() {
        return Err(Error::Fields(
            misfits.into_iter().map(|m| ("calendars".to_string(), m)).collect(),
        ));
    }
    flow_store::set_setting(&s.db, KEY, &text).await?;
    s.policy.replace(policy);
    Ok(s.policy.get())
}

/// The field of the first channel whose rules do not read (`channels.sms.window.start`): a
/// mistake inside a map keyed by channel is located without its key, so each channel is read
/// again on its own.
fn channel_of(document: &Value) -> Option<String> {
    let channels = document.get("channels")?.as_object()?;
    channels.iter().find_map(|(name, rules)| {
        let e = flows::json::typed_at::<flows::policy::SendRules>(rules.clone()).err()?;
        Some(match e.path.as_str() {
            "" => format!("channels.{name}"),
            path => format!("channels.{name}.{path}"),
        })
    })
}
