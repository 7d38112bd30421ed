//! Applying queued events (the inbox): tag and list facts update the contact, running
//! journeys of the contact hear the event, paused flows hold it, and `event_entry` nodes of
//! active flows start new journeys, all in one transaction per batch.

use chrono::{DateTime, Utc};
use flows::{CompiledFlow, Input};
use std::sync::Arc;

use super::pass::Written;
use super::{Engine, Error, Progress};
use crate::store::flows as flow_store;
use crate::store::inbox;
use crate::store::tokens::{self, Entered, NewEntry};

impl Engine {
    pub(super) async fn apply_events(&self) -> Result<Progress, Error> {
        self.apply_events_where(None).await
    }

    /// Applies the oldest queued events (a batch), or only the one with inbox id `only`.
    pub(super) async fn apply_events_where(&self, only: Option<i64>) -> Result<Progress, Error> {
        let now = self.clock.now();
        let applied = crate::db::in_write(&self.db, async |tx| self.apply_events_in(tx, only, now).await).await?;
        let Some((progress, written)) = applied else {
            return Ok(Progress::default());
        };
        written.hand_over(self.handoff.as_deref());
        self.wake.notify_one();
        Ok(progress)
    }

    /// [`Engine::apply_events_where`] in `tx`: what it wrote, to hand over once committed, or
    /// `None` when no event was queued.
    pub(super) async fn apply_events_in(
        &self,
        tx: &sea_orm::DatabaseTransaction,
        only: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Option<(Progress, Written)>, Error> {
        let events = match only {
            None => inbox::take_events(tx, self.batch).await?,
            Some(id) => inbox::take_event(tx, id).await?.into_iter().collect(),
        };
        if events.is_empty() {
            return Ok(None);
        }
        let ids: Vec<i64> = events.iter().map(|e| e.contact_id).collect();
        // A flow version that no longer loads starts no journeys; its running ones fail below.
        let mut active = Vec::new();
        for (flow_id, version) in flow_store::active(tx).await? {
            match self.flows.get(tx, flow_id, version).await {
                Ok(flow) => active.push((flow_id, version, flow)),
                Err(e) if e.is_unusable() => {
                    tracing::error!(error = %e, "an active flow cannot be loaded; its event entries are skipped");
                }
                Err(e) => return Err(e.into()),
            }
        }
        let stored: Vec<Arc<CompiledFlow>> = active.iter().map(|(_, _, f)| f.clone()).collect();
        // Read once per pass: for the active flows here, or for the first running journey
        // below whose (older) version needs them.
        let mut segments_read = self.flows.refresh_segments(tx, &stored).await?;
        let mut runnable = Vec::with_capacity(active.len());
        for (flow_id, version, _) in active {
            match self.flows.runnable(tx, flow_id, version).await {
                Ok(flow) => runnable.push((flow_id, version, flow)),
                Err(e) if e.is_unusable() => {
                    tracing::error!(error = %e, "an active flow's branch names a saved segment that does not exist; its event entries are skipped");
                }
                Err(e) => return Err(e.into()),
            }
        }
        let active = runnable;
        let flows_used: Vec<Arc<CompiledFlow>> = active.iter().map(|(_, _, f)| f.clone()).collect();
        let mut pass = self.pass(tx, now, &ids, &flows_used).await?;
        for queued in &events {
            let (contact_id, event, only) = (&queued.contact_id, &queued.event, queued.token);
            if only.is_none() {
                pass.record_contact_change(*contact_id, event);
            }
            // Journeys of paused flows keep the event until their flow is active again.
            for (token, flow) in tokens::paused_for_contact(tx, *contact_id).await? {
                if only.is_none_or(|id| id == token) {
                    inbox::hold_event(tx, token, flow, *contact_id, event, now).await?;
                }
            }
            let (running, unreadable) = tokens::running_for_contact(tx, *contact_id).await?;
            for (token, reason) in unreadable {
                pass.set_aside
                    .push((token, format!("its state could not be read: {reason}")));
            }
            for mut t in running {
                if only.is_some_and(|id| id != t.id) {
                    continue;
                }
                // A token stepped earlier in this pass is saved from the pass's copy.
                if let Some(i) = pass.tokens.iter().position(|p| p.id == t.id) {
                    t = pass.tokens.swap_remove(i);
                }
                if !segments_read && let Ok(stored) = self.flows.get(tx, t.flow_id, t.version).await {
                    segments_read = self.flows.refresh_segments(tx, &[stored]).await?;
                }
                match self.flows.runnable(tx, t.flow_id, t.version).await {
                    Ok(flow) => {
                        if flow.reads_messages() {
                            pass.load_messages(tx, &[t.contact_id]).await?;
                        }
                        pass.step(&flow, &mut t, Input::Event(event))
                    }
                    Err(e) if e.is_unusable() => pass.fail(&mut t, e.to_string()),
                    Err(e) => return Err(e.into()),
                }
            }
            if only.is_some() {
                continue;
            }
            for (flow_id, version, flow) in &active {
                let (flow_id, version) = (*flow_id, *version);
                for (_, node) in flows::entry::entries_for_event(flow, event) {
                    let entry = NewEntry {
                        flow_id,
                        version,
                        contact_id: *contact_id,
                        contact: &event.contact,
                        entry_node: &node.id,
                        data: event.data.clone(),
                        key: None,
                        reentry: flow.definition().reentry,
                        now,
                    };
                    if let Entered::Started { .. } = tokens::enter_uncounted(tx, entry).await? {
                        *pass.arrivals.entry((flow_id, node.id.clone())).or_default() += 1;
                    }
                }
            }
        }
        let applied: Vec<i64> = events.iter().map(|e| e.id).collect();
        inbox::delete_events(tx, &applied).await?;
        let writes = pass.into_writes()?;
        let progress = Progress {
            events: events.len(),
            ..writes.progress()
        };
        let written = writes.write(tx, None, self.handoff.as_deref()).await?;
        Ok(Some((progress, written)))
    }
}
