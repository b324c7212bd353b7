//! Pure domain types and decisions for livepatch-autopilot: kernel and RPM versions, live
//! patch packages, support windows, Patch Manager vocabulary, instance ids.
//!
//! No I/O and no AWS SDK types: everything here is a value or a function of its arguments,
//! and "now" is always passed in.

pub mod digest;
pub mod enable;
pub mod facts;
pub mod fleet;
pub mod ids;
pub mod install;
pub mod kernel;
pub mod livepatch;
pub mod outcome;
pub mod patch;
pub mod reboot;
pub mod rpmver;
pub mod scan;
pub mod support;

pub use ids::{InstanceId, InstanceIdError};
pub use kernel::{
    livepatch_support, os_end_of_support, Arch, Dist, KernelError, KernelRelease, LivePatchSupport,
    Platform,
};
pub use livepatch::{
    InstalledModule, KpatchList, KpatchListError, LivePatchError, LivePatchPackage, LoadedModule,
    ModuleState,
};
pub use patch::{
    highest, Classification, ComplianceStatus, PatchState, Severity, Spelling, UnknownValue,
};
pub use reboot::{
    plan_reboots, BookedInstance, Booking, BookingState, InstanceDecision, NewBooking,
    RebootCandidate, RebootDecision, RebootPlan, RebootPolicy, RebootPolicyError, RebootWindow,
    RebootWindowError, Slot, SupportFact, Urgency, Withdrawal,
};
pub use rpmver::rpmvercmp;
pub use support::{
    al2023_support_end, al2_build_date, support_end_from_build, SupportError, SupportStatus,
    SupportWindow,
};

/// Any error of this crate, for callers that propagate with `?`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// See [`KernelError`].
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// See [`LivePatchError`].
    #[error(transparent)]
    LivePatch(#[from] LivePatchError),
    /// See [`KpatchListError`].
    #[error(transparent)]
    KpatchList(#[from] KpatchListError),
    /// See [`SupportError`].
    #[error(transparent)]
    Support(#[from] SupportError),
    /// See [`UnknownValue`].
    #[error(transparent)]
    UnknownValue(#[from] UnknownValue),
    /// See [`InstanceIdError`].
    #[error(transparent)]
    InstanceId(#[from] InstanceIdError),
}

/// Command output quoted in an error: long outputs are cut, so that a log line stays readable
/// while still showing what was received.
pub(crate) fn excerpt(output: &str) -> String {
    const MAX_CHARS: usize = 200;
    let trimmed = output.trim();
    match trimmed.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_keeps_short_output_and_cuts_long_output() {
        assert_eq!(excerpt("  short\n"), "short");
        let long = "é".repeat(250);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), 201);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn domain_error_wraps_module_errors_transparently() {
        let err: DomainError = "5.15.0-1034-aws"
            .parse::<KernelRelease>()
            .unwrap_err()
            .into();
        assert!(err.to_string().contains("5.15.0-1034-aws"));
        let err: DomainError = "i-x".parse::<InstanceId>().unwrap_err().into();
        assert!(matches!(err, DomainError::InstanceId(_)));
        assert!(err.to_string().contains("\"i-x\""));
    }
}
