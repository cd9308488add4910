//! Call detail records: readers and toll-fraud audits. No I/O: the caller hands in the bytes.
//!
//! - [`reader`] reads Asterisk Master.csv (16/17/18/21 columns), Asterisk `cdr_custom` with a
//!   given column list, FreeSWITCH `cdr_csv` (`default` and `example` templates) and any CSV with a
//!   header and a column map. Malformed rows come out as [`reader::RowError`]s with their line
//!   number; the other rows are unaffected.
//! - [`analysis`] runs the call policy of `pbxguard-numbers` over the calls in time order and adds
//!   the audit rules that need hindsight: after-hours bursts, international spikes against the
//!   usual daily baseline, many short calls, Wangiri callbacks.
//! - [`generate`] makes synthetic CDRs: a clean month of office traffic, with fraud patterns
//!   injected on request, from a seed.

pub mod analysis;
pub mod csv;
pub mod format;
pub mod generate;
pub mod reader;

pub use analysis::{AuditConfig, AuditRule, Auditor, Finding, Report};
pub use format::{Field, Format, FormatError};
pub use reader::{CdrReader, CdrRecord, Disposition, RowError};
