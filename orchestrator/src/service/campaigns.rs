//! Campaigns: segment entries whose audience is evaluated again at each run.
//!
//! A **run** is one evaluation of one segment entry's audience, recorded in `flow_runs`: the
//! admission when a version is first activated (key `v<N>`), or a date of its schedule. The
//! scheduler ([`crate::runtime::scheduler`]) creates the runs that are due ([`plan`]) and admits
//! them a wave at a time ([`admit_next`]): a run in a fixed zone has one wave; a run in
//! contacts' own zones has one every 15 minutes from the first zone to reach `at` to the last,
//! each admitting the contacts whose own `at` has come. A wave evaluates the audience then
//! (never an earlier run's answer), keeps out whom the exclusions, the flow's re-entry rule and
//! the schedule's holidays keep out, and enters the rest in batches, each in its transaction
//! with the run's `admitted` count. Journeys carry their run, so a wave interrupted by a crash
//! is done again by whoever takes the run's lease next, and admits nobody twice.
//!
//! Audiences of lists only, in one wave, are evaluated in SQL in one transaction; the others are
//! answered by the segment index ([`crate::runtime::segments`]) with the one evaluator.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use flows::CompiledFlow;
use flows::condition::Condition;
use flows::definition::Reentry;
use flows::entry::{Admitted, Audience};
use flows::schedule::{Schedule, ScheduleZone, WAVE};
use flows::token::RecordRef;
use sea_orm::ConnectionTrait;
use serde::Serialize;

use super::{Error, Result, Services};
use crate::runtime::segments;
use crate::store::runs::{self, KeysOf, NewRun, RunRow, WaveCounts};
use crate::store::{counts, flows as flow_store, matches, tokens};

/// How long a process holds a run it admits before another may take it over; renewed after
/// each batch.
const LEASE: TimeDelta = TimeDelta::minutes(2);
/// Journeys entered per transaction.
const BATCH: usize = 20_000;
/// How often an `on: match` entry's members are checked against the clock (see [`sweep`]).
const SWEEP: TimeDelta = TimeDelta::minutes(10);

/// Creates the runs that are due at `now` for the scheduled segment entries of active flows;
/// returns how many it created (of several processes, one creates each).
pub async fn plan(s: &Services) -> Result<u64> {
    let now = s.clock.now();
    let mut created = 0;
    for (flow_id, version) in flow_store::active(&s.db).await? {
        let Some(compiled) = readable(s, flow_id, version).await else {
            continue;
        };
        // Most flows have no schedule: they cost no query.
        if flows::entry::audiences(&compiled).all(|a| a.schedule().is_none()) {
            continue;
        }
        let Some(since) = runs::runs_from(&s.db, flow_id).await? else {
            continue;
        };
        for audience in flows::entry::audiences(&compiled) {
            let Some(schedule) = audience.schedule() else { continue };
            let last = runs::last_date(&s.db, flow_id, &audience.node.id)
                .await?
                .and_then(|d| d.parse::<NaiveDate>().ok());
            let Some(run) = schedule.due(&s.policy.get(), last, since, now) else {
                continue;
            };
            let new = NewRun {
                flow_id,
                version,
                node: &audience.node.id,
                key: run.date.to_string(),
                first: run.first,
                last: run.last,
                opens: run.first.max(since),
            };
            if runs::create(&s.db, new, now).await?.is_some() {
                created += 1;
            }
        }
    }
    Ok(created)
}

/// The compiled version, or `None` (logged) when it cannot be read: one broken flow does not
/// hold up the others' runs.
async fn readable(s: &Services, flow: i64, version: i64) -> Option<std::sync::Arc<CompiledFlow>> {
    match s.flows.get(&s.db, flow, version).await {
        Ok(compiled) => Some(compiled),
        Err(e) => {
            tracing::warn!(flow, version, error = %e, "a flow version cannot be read; its runs wait");
            None
        }
    }
}

/// Creates, in the caller's transaction, the run of every segment entry of `compiled` that
/// admits once (no schedule, no `on`), for version `version`'s first activation; returns their ids.
pub async fn open_activation_runs(
    c: &impl ConnectionTrait,
    (flow_id, version): (i64, i64),
    compiled: &CompiledFlow,
    now: DateTime<Utc>,
) -> Result<Vec<i64>> {
    let mut ids = Vec::new();
    for audience in flows::entry::audiences(compiled).filter(|a| a.once()) {
        let new = NewRun {
            flow_id,
            version,
            node: &audience.node.id,
            key: format!("v{version}"),
            first: now,
            last: now,
            opens: now,
        };
        ids.extend(runs::create(c, new, now).await?);
    }
    Ok(ids)
}

/// Admits the next due wave of one run, if any is due; returns the run as it was claimed.
pub async fn admit_next(s: &Services) -> Result<Option<RunRow>> {
    let now = s.clock.now();
    let Some(run) = runs::claim(&s.db, now, now + LEASE).await? else {
        return Ok(None);
    };
    admit_wave(s, &run).await?;
    Ok(Some(run))
}

/// Admits every due wave of the runs `ids` (just created by an activation) in this process;
/// returns how many journeys they started.
pub async fn admit_now(s: &Services, ids: &[i64]) -> Result<u64> {
    let mut admitted = 0;
    for &id in ids {
        let now = s.clock.now();
        if let Some(run) = runs::claim_one(&s.db, id, now, now + LEASE).await? {
            admitted += admit_wave(s, &run).await?;
        }
    }
    Ok(admitted)
}

/// The flow's runs, newest first.
pub async fn list(s: &Services, flow: i64, limit: u64) -> Result<Vec<RunRow>> {
    Ok(runs::list(&s.db, flow, limit).await?)
}

/// The next runs of each scheduled segment entry of the flow's newest version.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SchedulePreview {
    pub node: String,
    /// The schedule in words.
    pub describe: String,
    /// `contact` or the zone's name.
    pub timezone: String,
    pub runs: Vec<PreviewRun>,
}

/// One run to come.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PreviewRun {
    /// The run's date on the schedule's wall clock.
    #[schema(value_type = String)]
    pub date: NaiveDate,
    /// The run's instant; with contacts' own zones, when the first zone (UTC+14) reaches `at`.
    pub first: DateTime<Utc>,
    /// When the last contact is due (the same as `first` in a fixed zone).
    pub last: DateTime<Utc>,
    /// What the run does, in words.
    pub says: String,
}

/// The next `n` runs of every scheduled segment entry of `compiled`, from `now`.
pub fn preview(s: &Services, compiled: &CompiledFlow, n: usize) -> Vec<SchedulePreview> {
    flows::entry::audiences(compiled)
        .filter_map(|a| Some(preview_schedule(s, &a.node.id, a.schedule()?, n)))
        .collect()
}

/// The next `n` runs of one schedule (a stored entry's, or one being drawn in the editor).
pub fn preview_schedule(s: &Services, node: &str, schedule: &Schedule, n: usize) -> SchedulePreview {
    let runs = schedule
        .next(&s.policy.get(), s.clock.now(), n)
        .into_iter()
        .map(|r| PreviewRun {
            date: r.date,
            first: r.first,
            last: r.last,
            says: match schedule.timezone {
                ScheduleZone::Contact => format!(
                    "{} at {} in each contact's own time zone ({} to {} UTC)",
                    r.date,
                    schedule.at,
                    r.first.format("%Y-%m-%d %H:%M"),
                    r.last.format("%Y-%m-%d %H:%M")
                ),
                ScheduleZone::Fixed(z) => format!("{} at {} {z}", r.date, schedule.at),
            },
        })
        .collect();
    SchedulePreview {
        node: node.to_owned(),
        describe: schedule.describe(),
        timezone: schedule.timezone.to_string(),
        runs,
    }
}

/// Why a schedule cannot run under the policy in force, by field (`rrule`, `skip`); empty when
/// it can.
pub fn schedule_problems(s: &Services, schedule: &Schedule) -> Vec<(String, String)> {
    let policy = s.policy.get();
    let mut problems: Vec<(String, String)> = schedule
        .problems()
        .into_iter()
        .map(|(field, message)| (field.to_owned(), message))
        .collect();
    for name in schedule.calendars().filter(|n| !policy.calendars.contains_key(*n)) {
        problems.push((
            "skip".to_owned(),
            format!("'{name}' is not a calendar of the send policy"),
        ));
    }
    problems
}

/// The instants of one wave: contacts due after `from` (or at `from` on the first wave) up to
/// `until` enter; the next wave is at `next`, or the run ends.
struct Wave {
    from: DateTime<Utc>,
    first: bool,
    until: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
}

impl Wave {
    fn of(run: &RunRow, now: DateTime<Utc>) -> Self {
        let until = now.min(run.last_at);
        let next = (until < run.last_at).then(|| {
            // The next 15-minute step from the run's first instant (where `at` reaches zones).
            let steps = (until - run.first_at).num_seconds().div_euclid(WAVE.num_seconds()) + 1;
            (run.first_at + WAVE * steps as i32).min(run.last_at)
        });
        Wave {
            from: run.admitted_until.unwrap_or(run.opens_at),
            first: run.admitted_until.is_none(),
            until,
            next,
        }
    }

    fn holds(&self, at: DateTime<Utc>) -> bool {
        (at > self.from || (self.first && at == self.from)) && at <= self.until
    }
}

/// Admits one wave of a claimed run; returns how many journeys it started.
async fn admit_wave(s: &Services, run: &RunRow) -> Result<u64> {
    let now = s.clock.now();
    let wave = Wave::of(run, now);
    let Some(compiled) = readable(s, run.flow_id, run.version).await else {
        // Another pass tries again once the lease runs out.
        return Ok(0);
    };
    let Some(audience) = flows::entry::audiences(&compiled).find(|a| a.node.id == run.node) else {
        // The version has no such entry (it cannot happen: runs are made from the version).
        finish(s, run, &wave, WaveCounts::default()).await?;
        return Ok(0);
    };
    let admitted = if lists_only(&audience) {
        admit_lists(s, run, &audience, &compiled, &wave).await?
    } else {
        match admit_indexed(s, run, &audience, &compiled, &wave).await {
            Ok(n) => n,
            // A saved segment the audience names was deleted: the run admits no one.
            Err(e @ Error::Fields(_)) => {
                tracing::warn!(flow = run.flow_id, node = %run.node, error = %e, "a run's audience cannot be evaluated");
                finish(s, run, &wave, WaveCounts::default()).await?;
                0
            }
            Err(e) => return Err(e),
        }
    };
    s.engine.notify_one();
    Ok(admitted)
}

/// Whether the audience is lists alone, in one wave with no per-contact holidays: SQL answers it.
fn lists_only(a: &Audience<'_>) -> bool {
    let e = a.entry;
    e.segments.is_empty()
        && e.exclude_segments.is_empty()
        && e.condition.is_none()
        && e.per.is_none()
        && a.schedule()
            .is_none_or(|s| s.timezone != ScheduleZone::Contact && !s.skips_contacts_holidays())
}

async fn admit_lists(
    s: &Services,
    run: &RunRow,
    audience: &Audience<'_>,
    compiled: &CompiledFlow,
    wave: &Wave,
) -> Result<u64> {
    let e = audience.entry;
    let now = s.clock.now();
    let entry = tokens::AudienceEntry {
        flow_id: run.flow_id,
        version: run.version,
        entry_node: &audience.node.id,
        lists: e.list.iter().chain(&e.lists).map(String::as_str).collect(),
        exclude_lists: e.exclude_lists.iter().map(String::as_str).collect(),
        reentry: compiled.definition().reentry,
        run_id: run.id,
        now,
    };
    crate::db::in_write(&s.db, async |tx| {
        let found = tokens::enter_audience(tx, entry).await?;
        runs::add_admitted(tx, run.id, found.admitted).await?;
        let counts = WaveCounts {
            audience: found.audience,
            skipped: found.skipped,
            excluded: found.excluded,
        };
        let (until, next) = (wave.until, wave.next);
        runs::finish_wave(tx, run.id, (until, next), counts, now).await?;
        counts::count_arrivals(tx, run.flow_id, &audience.node.id, found.admitted as i64).await?;
        Ok::<_, Error>(found.admitted)
    })
    .await
}

/// A journey a wave starts: the contact (internal and external id) and the record it is for.
struct Start {
    contact: i64,
    external: String,
    record: Option<RecordRef>,
}

impl Start {
    /// What re-entry counts by: the contact, and the record (empty for the contact's own).
    fn key(&self) -> (i64, String) {
        (
            self.contact,
            self.record.as_ref().map(|r| r.id.clone()).unwrap_or_default(),
        )
    }
}

async fn admit_indexed(
    s: &Services,
    run: &RunRow,
    audience: &Audience<'_>,
    compiled: &CompiledFlow,
    wave: &Wave,
) -> Result<u64> {
    let (include, exclude) = audience.parts();
    let include = super::segments::resolve_saved(s, &include).await?;
    let exclude = match exclude {
        Some(c) => Some(super::segments::resolve_saved(s, &c).await?),
        None => None,
    };
    let whole = match &exclude {
        None => include.clone(),
        Some(x) => Condition::All(vec![include.clone(), Condition::Not(Box::new(x.clone()))]),
    };
    let now = s.clock.now();
    let timer = std::time::Instant::now();
    let date = run.key.parse::<NaiveDate>().ok();
    let schedule = audience.schedule();
    let mut counts = WaveCounts::default();
    let mut starts: Vec<Start> = Vec::new();
    let policy = s.policy.get();
    {
        let index = s.segments.fresh(&s.db).await?;
        let members = segments::members(&index, &include, now);
        let kept_out = exclude.as_ref().map(|x| segments::members(&index, x, now));
        for id in &members {
            let Some(entry) = index.entry(id) else { continue };
            let place = entry.place();
            if let (Some(schedule), Some(date)) = (schedule, date) {
                // In a fixed zone every contact is due at the run's one instant.
                let due = match schedule.timezone {
                    ScheduleZone::Fixed(_) => run.first_at,
                    ScheduleZone::Contact => {
                        let (zone, _) = place.zone(compiled.timezone(), policy.default_timezone);
                        schedule.instant(date, zone)
                    }
                };
                if !wave.holds(due) {
                    continue;
                }
                counts.audience += 1;
                if kept_out.as_ref().is_some_and(|x| x.contains(id)) {
                    counts.excluded += 1;
                    continue;
                }
                if schedule
                    .skips_contact(policy.country_at(&place).as_deref(), date)
                    .is_some()
                {
                    counts.skipped += 1;
                    continue;
                }
            } else {
                counts.audience += 1;
                if kept_out.as_ref().is_some_and(|x| x.contains(id)) {
                    counts.excluded += 1;
                    continue;
                }
            }
            starts_for(&index, id, (&whole, audience.per()), now, &mut starts);
        }
    }
    // Re-entry: journeys this run already started are left alone (a wave done again after a
    // crash); those the flow's rule keeps out are counted as skipped.
    // The first wave of a run nobody has admitted into has none (no need to look).
    let this_run: HashSet<(i64, String)> = if run.admitted_until.is_none() && run.admitted == 0 {
        HashSet::new()
    } else {
        runs::journey_keys(
            &s.db,
            KeysOf::Run {
                flow: run.flow_id,
                run: run.id,
            },
        )
        .await?
        .into_iter()
        .collect()
    };
    let starts: Vec<Start> = starts.into_iter().filter(|st| !this_run.contains(&st.key())).collect();
    let (fresh, skipped) = kept_in(s, run.flow_id, compiled.definition().reentry, starts).await?;
    counts.skipped += skipped;
    let evaluated = timer.elapsed();
    let admitted = enter(s, (run.flow_id, run.version), &audience.node.id, Some(run.id), &fresh).await?;
    finish(s, run, wave, counts).await?;
    tracing::info!(
        flow = run.flow_id,
        run = %run.key,
        wave = %wave.until,
        audience = counts.audience,
        admitted,
        evaluate_ms = evaluated.as_millis() as u64,
        enter_ms = (timer.elapsed() - evaluated).as_millis() as u64,
        "a run's wave admitted"
    );
    Ok(admitted)
}

/// Of `starts`, those the flow's re-entry rule lets in, and how many contacts it kept out.
async fn kept_in(s: &Services, flow: i64, reentry: Reentry, starts: Vec<Start>) -> Result<(Vec<Start>, u64)> {
    let held: HashSet<(i64, String)> = match reentry {
        Reentry::Always => return Ok((starts, 0)),
        Reentry::Never => {
            runs::journey_keys(
                &s.db,
                KeysOf::Flow {
                    flow,
                    unfinished_only: false,
                },
            )
            .await?
        }
        Reentry::AfterExit => {
            runs::journey_keys(
                &s.db,
                KeysOf::Flow {
                    flow,
                    unfinished_only: true,
                },
            )
            .await?
        }
    }
    .into_iter()
    .collect();
    let mut fresh = Vec::with_capacity(starts.len());
    let mut kept_out = HashSet::new();
    for start in starts {
        if held.contains(&start.key()) {
            // A contact's journeys per record count once.
            kept_out.insert(start.contact);
            continue;
        }
        fresh.push(start);
    }
    Ok((fresh, kept_out.len() as u64))
}

/// Enters `starts` at `node` of `flow` (id, version), as run `run`, a batch per transaction.
async fn enter(s: &Services, flow: (i64, i64), node: &str, run: Option<i64>, starts: &[Start]) -> Result<u64> {
    let mut admitted = 0u64;
    for batch in starts.chunks(BATCH) {
        let now = s.clock.now();
        let rows = batch
            .iter()
            .map(|start| {
                tokens::journey_row(&tokens::Journey {
                    flow,
                    contact: (start.contact, &start.external),
                    node,
                    record: start.record.as_ref(),
                    run,
                    now,
                })
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let n = rows.len() as u64;
        crate::db::in_write(&s.db, async |tx| {
            crate::db::insert_rows(tx, "tokens", &tokens::JOURNEY_COLUMNS, rows).await?;
            if let Some(run) = run {
                runs::add_admitted(tx, run, n).await?;
                runs::renew(tx, run, now + LEASE).await?;
            }
            counts::count_here(tx, BTreeMap::from([((flow.0, node.to_string()), n as i64)])).await?;
            Ok::<_, Error>(())
        })
        .await?;
        admitted += n;
        s.engine.notify_one();
    }
    Ok(admitted)
}

/// The journeys contact `id` starts through an audience (`whole`, resolved, and its `per`):
/// one, or one per matching record; none when they do not match.
fn starts_for(
    index: &segments::Index,
    id: u32,
    (whole, per): (&Condition, Option<&str>),
    now: DateTime<Utc>,
    out: &mut Vec<Start>,
) {
    let Some(view) = index.view(id, now) else { return };
    let external = view.entry.external_id();
    match flows::entry::admitted(whole, &view, per) {
        None => {}
        Some(Admitted::Contact) => out.push(Start {
            contact: id as i64,
            external: external.to_string(),
            record: None,
        }),
        Some(Admitted::Records(records)) => {
            let kind = per.unwrap_or_default();
            out.extend(records.into_iter().map(|r| Start {
                contact: id as i64,
                external: external.to_string(),
                record: Some(RecordRef {
                    kind: kind.to_string(),
                    id: r.id.clone(),
                }),
            }));
        }
    }
}

/// Admits, for every `on: match` entry of an active flow, the contacts whose changes since it
/// last looked made them start to match (a tag or list added or expired, a field or record
/// changed, an import), under the flow's re-entry rule; returns how many journeys started.
/// An entry first looked at (its flow activated or resumed) takes whoever matches then as
/// already matching: they do not enter.
pub async fn admit_matches(s: &Services) -> Result<u64> {
    let mut admitted = 0;
    for (flow_id, version) in flow_store::active(&s.db).await? {
        let Some(compiled) = readable(s, flow_id, version).await else {
            continue;
        };
        for audience in flows::entry::audiences(&compiled).filter(|a| a.on_match()) {
            match match_entry(s, (flow_id, version), &compiled, &audience).await {
                Ok(n) => admitted += n,
                // One entry's problem (a saved segment deleted since): the others go on.
                Err(e @ (Error::Fields(_) | Error::NotFound(_))) => {
                    tracing::warn!(flow = flow_id, node = %audience.node.id, error = %e, "an on-match entry cannot be evaluated");
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(admitted)
}

/// Forgets the members of an `on: match` entry who no longer match at `now` though nothing
/// about them changed (a tag's date grew old): a later change that makes them match again
/// admits them.
async fn sweep(
    s: &Services,
    key: (i64, &str),
    (whole, per): (&Condition, Option<&str>),
    now: DateTime<Utc>,
) -> Result<()> {
    let members = matches::members(&s.db, key).await?;
    let contacts: std::collections::BTreeSet<i64> = members.iter().map(|m| m.0).collect();
    let mut starts = Vec::new();
    {
        let index = s.segments.fresh(&s.db).await?;
        for &id in &contacts {
            starts_for(&index, id as u32, (whole, per), now, &mut starts);
        }
    }
    let matching: HashSet<(i64, String)> = starts.iter().map(Start::key).collect();
    let stale: Vec<(i64, String)> = members.into_iter().filter(|m| !matching.contains(m)).collect();
    crate::db::in_write(&s.db, async |tx| {
        matches::remove(tx, key, &stale).await?;
        matches::swept(tx, key, now).await?;
        Ok::<_, Error>(())
    })
    .await
}

async fn match_entry(s: &Services, flow: (i64, i64), compiled: &CompiledFlow, audience: &Audience<'_>) -> Result<u64> {
    let key = (flow.0, audience.node.id.as_str());
    let whole = super::segments::resolve_saved(s, &audience.condition()).await?;
    let per = audience.per();
    let now = s.clock.now();
    if !matches::exists(&s.db, key).await? {
        // The mark is taken before the index is read: what commits meanwhile is read again.
        let mark = crate::store::segments::change_mark(&s.db).await?;
        let mut starts = Vec::new();
        {
            let index = s.segments.fresh(&s.db).await?;
            for id in &segments::members(&index, &whole, now) {
                starts_for(&index, id, (&whole, per), now, &mut starts);
            }
        }
        let keys: Vec<(i64, String)> = starts.iter().map(Start::key).collect();
        let mark = matches::Mark { mark, version: flow.1 };
        crate::db::in_write(&s.db, async |tx| {
            if matches::start(tx, key, mark, now + LEASE).await? {
                matches::add(tx, key, &keys).await?;
                matches::advance(tx, key, mark).await?;
            }
            Ok::<_, Error>(())
        })
        .await?;
        return Ok(0);
    }
    let Some(claimed) = matches::claim(&s.db, key, now, now + LEASE).await? else {
        return Ok(0);
    };
    if claimed.swept_at.is_none_or(|at| now - at >= SWEEP) {
        sweep(s, key, (&whole, per), now).await?;
    }
    let mark = claimed.mark;
    let (changed, next) = crate::store::segments::changed_since(&s.db, mark.mark).await?;
    let next = matches::Mark {
        mark: next,
        version: flow.1,
    };
    if changed.is_empty() {
        matches::advance(&s.db, key, next).await?;
        return Ok(0);
    }
    let mut starts = Vec::new();
    {
        let index = s.segments.fresh(&s.db).await?;
        for &id in &changed {
            starts_for(&index, id as u32, (&whole, per), now, &mut starts);
        }
    }
    let before = matches::members_among(&s.db, key, &changed).await?;
    let matching: HashSet<(i64, String)> = starts.iter().map(Start::key).collect();
    let left: Vec<(i64, String)> = before.difference(&matching).cloned().collect();
    let joined: Vec<Start> = starts.into_iter().filter(|st| !before.contains(&st.key())).collect();
    let joined_keys: Vec<(i64, String)> = joined.iter().map(Start::key).collect();
    let (fresh, _) = kept_in(s, flow.0, compiled.definition().reentry, joined).await?;
    // The journeys, the members and the mark move in one transaction: a crash before it ends
    // looks at the same changes again, and admits nobody twice.
    let now = s.clock.now();
    let rows = fresh
        .iter()
        .map(|start| {
            tokens::journey_row(&tokens::Journey {
                flow,
                contact: (start.contact, &start.external),
                node: &audience.node.id,
                record: start.record.as_ref(),
                run: None,
                now,
            })
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let admitted = rows.len() as u64;
    crate::db::in_write(&s.db, async |tx| {
        crate::db::insert_rows(tx, "tokens", &tokens::JOURNEY_COLUMNS, rows).await?;
        matches::add(tx, key, &joined_keys).await?;
        matches::remove(tx, key, &left).await?;
        matches::advance(tx, key, next).await?;
        counts::count_arrivals(tx, flow.0, &audience.node.id, admitted as i64).await?;
        Ok::<_, Error>(())
    })
    .await?;
    if admitted > 0 {
        s.engine.notify_one();
    }
    Ok(admitted)
}

async fn finish(s: &Services, run: &RunRow, wave: &Wave, counts: WaveCounts) -> Result<()> {
    let now = s.clock.now();
    runs::finish_wave(&s.db, run.id, (wave.until, wave.next), counts, now).await?;
    Ok(())
}
