//! What the engine and delivery set aside, put back or given up by an operator.

use super::{Error, Result, Services};
use crate::store::set_aside;

/// A set-aside id as given in a path; one that is not a number names nothing.
fn id_of(raw: &str) -> Result<i64> {
    raw.parse()
        .map_err(|_| Error::NotFound(format!("nothing set aside with id '{raw}'")))
}

/// Puts a set-aside item back: the journey is due at once, the event or message queued again.
pub async fn retry(s: &Services, raw: &str) -> Result<i64> {
    let id = id_of(raw)?;
    let now = s.clock.now();
    if !crate::db::in_write(&s.db, async |tx| set_aside::retry(tx, id, now).await).await? {
        return Err(Error::NotFound(format!("nothing set aside with id {id}")));
    }
    s.engine.notify_one();
    Ok(id)
}

/// Gives a set-aside item up: a journey ends, an event or a message is dropped.
pub async fn cancel(s: &Services, raw: &str) -> Result<i64> {
    let id = id_of(raw)?;
    let now = s.clock.now();
    if !crate::db::in_write(&s.db, async |tx| set_aside::cancel(tx, id, now).await).await? {
        return Err(Error::NotFound(format!("nothing set aside with id {id}")));
    }
    Ok(id)
}
