//! CDR file layouts: which column holds what.

use std::fmt;

/// A CDR field pbxguard reads. Other columns are carried as [`Field::Other`] and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// Account code.
    AccountCode,
    /// Caller number (Asterisk `src`, FreeSWITCH `caller_id_number`).
    Src,
    /// Dialled number (Asterisk `dst`, FreeSWITCH `destination_number`).
    Dst,
    /// Dial-plan context.
    Context,
    /// Calling channel (`SIP/100-0000001`).
    Channel,
    /// Called channel (`SIP/carrier-0000002`): names the trunk.
    DstChannel,
    /// Call start.
    Start,
    /// Answer time (empty when unanswered).
    Answer,
    /// Call end.
    End,
    /// Seconds from start to end.
    Duration,
    /// Seconds from answer to end.
    BillSec,
    /// Asterisk disposition or FreeSWITCH hangup cause.
    Disposition,
    /// Unique call id.
    UniqueId,
    /// A column not used by the analysis.
    Other,
}

impl Field {
    /// Reads an Asterisk CDR variable or FreeSWITCH channel variable name.
    #[must_use]
    pub fn from_name(name: &str) -> Self {
        match name.trim().to_ascii_lowercase().as_str() {
            "accountcode" | "account" => Self::AccountCode,
            "src" | "caller_id_number" | "source" | "caller" | "from" => Self::Src,
            "dst" | "destination_number" | "destination" | "called" | "to" | "dialled"
            | "dialed" => Self::Dst,
            "dcontext" | "context" => Self::Context,
            "channel" | "channel_name" => Self::Channel,
            "dstchannel" | "bridge_channel" | "trunk" => Self::DstChannel,
            "start" | "start_stamp" | "calldate" | "start_time" => Self::Start,
            "answer" | "answer_stamp" | "answer_time" => Self::Answer,
            "end" | "end_stamp" | "end_time" => Self::End,
            "duration" => Self::Duration,
            "billsec" | "billable" => Self::BillSec,
            "disposition" | "hangup_cause" | "status" => Self::Disposition,
            "uniqueid" | "uuid" | "call_id" | "callid" => Self::UniqueId,
            _ => Self::Other,
        }
    }
}

use Field::{
    AccountCode as Acc, Answer as Ans, BillSec as Bill, Channel as Chan, Context as Ctx,
    Disposition as Disp, Dst, DstChannel as DChan, Duration as Dur, End, Other as O, Src,
    Start as St, UniqueId as Uid,
};

/// Asterisk `cdr_csv` (Master.csv): accountcode, src, dst, dcontext, clid, channel, dstchannel,
/// lastapp, lastdata, start, answer, end, duration, billsec, disposition, amaflags; then uniqueid
/// and userfield with `loguniqueid`/`loguserfield`; then peeraccount, linkedid, sequence with
/// `newcdrcolumns` (Asterisk 12+).
const ASTERISK_MASTER: [Field; 21] = [
    Acc, Src, Dst, Ctx, O, Chan, DChan, O, O, St, Ans, End, Dur, Bill, Disp, O, Uid, O, O, O, O,
];

/// FreeSWITCH `cdr_csv` `example` template, the shipped `default-template`: caller_id_name,
/// caller_id_number, destination_number, context, start_stamp, answer_stamp, end_stamp, duration,
/// billsec, hangup_cause, uuid, bleg_uuid, accountcode, read_codec, write_codec (13 columns in old
/// configurations, without the codecs). The `linksys` (17) and `snom` (20) templates append columns
/// to the same 15.
const FREESWITCH: [Field; 20] = [
    O, Src, Dst, Ctx, St, Ans, End, Dur, Bill, Disp, Uid, O, Acc, O, O, O, O, O, O, O,
];

/// FreeSWITCH `cdr_csv` `asterisk` template (Master.csv-like): accountcode, caller_id_number,
/// destination_number, context, caller_id, channel_name, bridge_channel, last_app, last_arg,
/// start_stamp, answer_stamp, end_stamp, duration, billsec, hangup_cause, amaflags, uuid,
/// userfield.
const FREESWITCH_ASTERISK: [Field; 18] = [
    Acc, Src, Dst, Ctx, O, Chan, DChan, O, O, St, Ans, End, Dur, Bill, Disp, O, Uid, O,
];

/// Which columns a file has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// Asterisk Master.csv; 16, 17, 18 and 21 columns are accepted row by row.
    AsteriskMaster,
    /// Asterisk `cdr_custom` with the given column list.
    AsteriskCustom(Vec<Field>),
    /// FreeSWITCH cdr_csv `example` template, the shipped default (13 or 15 columns; 17 and 20 for
    /// its `linksys` and `snom` extensions).
    Freeswitch,
    /// FreeSWITCH cdr_csv `asterisk` template (18 columns).
    FreeswitchAsterisk,
    /// Any CSV with a header row, and a map from fields to header names (or 1-based column
    /// numbers).
    Generic(Vec<(Field, String)>),
}

/// A mistake in a format description.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// The format name is not known.
    UnknownFormat {
        /// The name given.
        name: String,
    },
    /// A column list has no `dst` or no `start` column.
    RequiredFieldMissing {
        /// The missing field's name.
        field: &'static str,
    },
    /// A column map entry is not `field=column`.
    MapEntryMalformed {
        /// The entry.
        entry: String,
    },
    /// A column map names a field pbxguard does not use.
    MapFieldUnknown {
        /// The field name.
        field: String,
    },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownFormat { name } => write!(
                f,
                "unknown CDR format {name:?} (asterisk, asterisk-custom, freeswitch, freeswitch-asterisk, generic)"
            ),
            Self::RequiredFieldMissing { field } => {
                write!(f, "the column list has no {field} column")
            }
            Self::MapEntryMalformed { entry } => {
                write!(f, "column map entry {entry:?} is not FIELD=COLUMN")
            }
            Self::MapFieldUnknown { field } => write!(
                f,
                "column map field {field:?} is not a CDR field pbxguard reads"
            ),
        }
    }
}

impl std::error::Error for FormatError {}

impl Format {
    /// Builds an `AsteriskCustom` format from a column list: either plain names
    /// (`clid,src,dst,start,...`) or the right-hand side of a `cdr_custom.conf` mapping
    /// (`${CSV_QUOTE(${CDR(clid)})},${CSV_QUOTE(${CDR(src)})},...`).
    ///
    /// # Errors
    /// [`FormatError::RequiredFieldMissing`] without a `dst` or `start` column.
    pub fn asterisk_custom(columns: &str) -> Result<Self, FormatError> {
        let fields: Vec<Field> = if columns.contains("CDR(") {
            columns
                .split("CDR(")
                .skip(1)
                .map(|part| {
                    let name = part.split([')', ',']).next().unwrap_or_default();
                    Field::from_name(name)
                })
                .collect()
        } else {
            columns.split(',').map(Field::from_name).collect()
        };
        require(&fields)?;
        Ok(Self::AsteriskCustom(fields))
    }

    /// Builds a `Generic` format from `field=column,field=column` (column: header name or 1-based
    /// number).
    ///
    /// # Errors
    /// Malformed entries, unknown fields, or no `dst`/`start`.
    pub fn generic(map: &str) -> Result<Self, FormatError> {
        let mut pairs = Vec::new();
        for entry in map.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((field, column)) = entry.split_once('=') else {
                return Err(FormatError::MapEntryMalformed {
                    entry: entry.to_owned(),
                });
            };
            let f = Field::from_name(field);
            if f == Field::Other {
                return Err(FormatError::MapFieldUnknown {
                    field: field.to_owned(),
                });
            }
            pairs.push((f, column.trim().to_owned()));
        }
        let fields: Vec<Field> = pairs.iter().map(|(f, _)| *f).collect();
        require(&fields)?;
        Ok(Self::Generic(pairs))
    }

    /// Reads a format name: `asterisk`, `freeswitch` (also `freeswitch-example`, the template's own
    /// name), `freeswitch-asterisk` (the formats that need a column list are built with
    /// [`Format::asterisk_custom`] and [`Format::generic`]).
    ///
    /// # Errors
    /// [`FormatError::UnknownFormat`].
    pub fn from_name(name: &str) -> Result<Self, FormatError> {
        match name {
            "asterisk" | "asterisk-master" | "master.csv" => Ok(Self::AsteriskMaster),
            "freeswitch" | "freeswitch-example" | "freeswitch-default" => Ok(Self::Freeswitch),
            "freeswitch-asterisk" => Ok(Self::FreeswitchAsterisk),
            _ => Err(FormatError::UnknownFormat {
                name: name.to_owned(),
            }),
        }
    }

    /// The layout for a row of `columns` fields, or the accepted counts when none fits.
    pub(crate) fn layout(&self, columns: usize) -> Result<&[Field], &'static str> {
        match self {
            Self::AsteriskMaster => match columns {
                16..=18 | 21 => ASTERISK_MASTER.get(..columns).ok_or("16, 17, 18 or 21"),
                _ => Err("16, 17, 18 or 21"),
            },
            Self::Freeswitch => match columns {
                13 | 15 | 17 | 20 => FREESWITCH.get(..columns).ok_or("13, 15, 17 or 20"),
                _ => Err("13, 15, 17 or 20"),
            },
            Self::FreeswitchAsterisk => {
                if columns == FREESWITCH_ASTERISK.len() {
                    Ok(&FREESWITCH_ASTERISK)
                } else {
                    Err("18")
                }
            }
            Self::AsteriskCustom(fields) => {
                if columns == fields.len() {
                    Ok(fields)
                } else {
                    Err("as many as the column list")
                }
            }
            Self::Generic(_) => Err("as many as the header"),
        }
    }
}

fn require(fields: &[Field]) -> Result<(), FormatError> {
    if !fields.contains(&Field::Dst) {
        return Err(FormatError::RequiredFieldMissing { field: "dst" });
    }
    if !fields.contains(&Field::Start) {
        return Err(FormatError::RequiredFieldMissing { field: "start" });
    }
    Ok(())
}
