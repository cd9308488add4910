//! Readers: text in, structured configuration out, every item with its file and line.

pub mod conf;
pub mod firewall;
pub mod firewalld;
mod firewalld_services;
pub mod json;
pub mod kamailio;
pub mod nftjson;
pub mod ufw;
pub mod xml;
