//! A DNS server on loopback for tests: answers A, MX and TXT questions from a table the test
//! fills, NXDOMAIN for names it does not know. The server under test is pointed at it with
//! `KONTOR_DNS_SERVERS`. It stops when dropped.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, MX, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

#[derive(Default)]
struct Zone {
    records: HashMap<(String, RecordType), Vec<RData>>,
}

pub struct Dns {
    pub addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    task: tokio::task::JoinHandle<()>,
}

fn key(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.').to_ascii_lowercase())
}

impl Dns {
    pub async fn start() -> Self {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind dns");
        let addr = socket.local_addr().expect("dns addr");
        let zone = Arc::new(Mutex::new(Zone::default()));
        let z = zone.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else { return };
                let Ok(query) = Message::from_vec(&buf[..n]) else { continue };
                let mut reply = Message::response(query.metadata.id, OpCode::Query);
                reply.metadata.authoritative = true;
                reply.metadata.recursion_desired = query.metadata.recursion_desired;
                reply.metadata.recursion_available = true;
                let mut known = false;
                for q in &query.queries {
                    reply.add_query(q.clone());
                    let name = key(&q.name().to_ascii());
                    let zone = z.lock().unwrap();
                    known |= zone.records.keys().any(|(n, _)| *n == name);
                    for rdata in zone.records.get(&(name, q.query_type())).into_iter().flatten() {
                        reply.add_answer(Record::from_rdata(q.name().clone(), 60, rdata.clone()));
                    }
                }
                if !known {
                    reply.metadata.response_code = ResponseCode::NXDomain;
                }
                if let Ok(bytes) = reply.to_vec() {
                    let _ = socket.send_to(&bytes, from).await;
                }
            }
        });
        Self { addr, zone, task }
    }

    fn add(&self, name: &str, t: RecordType, data: RData) {
        self.zone.lock().unwrap().records.entry((key(name), t)).or_default().push(data);
    }

    pub fn a(&self, name: &str, ip: Ipv4Addr) {
        self.add(name, RecordType::A, RData::A(A(ip)));
    }

    pub fn mx(&self, name: &str, preference: u16, host: &str) {
        self.add(name, RecordType::MX, RData::MX(MX::new(preference, Name::from_ascii(key(host)).unwrap())));
    }

    /// A TXT record; long values are split into strings of 255 bytes.
    pub fn txt(&self, name: &str, value: &str) {
        let parts = value.as_bytes().chunks(255).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
        self.add(name, RecordType::TXT, RData::TXT(TXT::new(parts)));
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.task.abort();
    }
}
