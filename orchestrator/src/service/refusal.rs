//! Why an entry was refused, in the words the API answers with (HTTP 409). The store says
//! which rule kept the contact out ([`Refusal`]); these sentences are the service's.

use std::fmt;

use crate::store::tokens::Refusal;

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::AlreadyIn => f.write_str("the contact is already in this flow (reentry: after_exit)"),
            Refusal::BeenInBefore => f.write_str("the contact has been in this flow before (reentry: never)"),
            Refusal::KeyUsedForAnotherContact { key } => {
                write!(
                    f,
                    "the entry key '{key}' was already used for another contact in this flow"
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_reads_as_the_api_has_always_said_it() {
        assert_eq!(
            Refusal::AlreadyIn.to_string(),
            "the contact is already in this flow (reentry: after_exit)"
        );
        assert_eq!(
            Refusal::BeenInBefore.to_string(),
            "the contact has been in this flow before (reentry: never)"
        );
        let key = Refusal::KeyUsedForAnotherContact { key: "order-7".into() };
        assert_eq!(
            key.to_string(),
            "the entry key 'order-7' was already used for another contact in this flow"
        );
    }
}
