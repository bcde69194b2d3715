//! A minimal HTTP/1.1 keep-alive client over a tokio `TcpStream`.
//!
//! The load generator shares two cores with the server it measures, so it must cost as little
//! as possible per request: requests are pre-encoded bytes, one request is in flight per
//! connection, and a response is read just far enough to know its status and where it ends.
//! Only what our servers send is understood: `Content-Length` or chunked bodies.

use std::io;
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Status and body of one answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Encodes one request. `Host` and `Content-Length` are added here.
pub fn encode_request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 256);
    out.extend_from_slice(format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n").as_bytes());
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// `POST path` with a JSON body.
pub fn post_json(path: &str, body: &[u8]) -> Vec<u8> {
    encode_request("POST", path, &[("Content-Type", "application/json")], body)
}

pub fn get(path: &str) -> Vec<u8> {
    encode_request("GET", path, &[], &[])
}

/// `GET path` on a fresh connection, the answer parsed as JSON.
pub async fn get_json(addr: SocketAddr, path: &str) -> io::Result<serde_json::Value> {
    let mut connection = Connection::connect(addr).await?;
    let response = connection.send(&get(path)).await?;
    if !response.is_success() {
        return Err(io::Error::other(format!(
            "GET {path} answered {}",
            response.status
        )));
    }
    serde_json::from_slice(&response.body).map_err(io::Error::other)
}

/// One keep-alive connection; one request at a time.
pub struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buffer: Vec::with_capacity(8 * 1024),
        })
    }

    /// Sends pre-encoded request bytes and reads the whole answer.
    pub async fn send(&mut self, request: &[u8]) -> io::Result<Response> {
        self.stream.write_all(request).await?;
        self.read_response().await
    }

    async fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 8 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    async fn read_response(&mut self) -> io::Result<Response> {
        let head_end = loop {
            if let Some(pos) = find(&self.buffer, b"\r\n\r\n") {
                break pos + 4;
            }
            self.fill().await?;
        };
        let head = parse_head(&self.buffer[..head_end])?;
        let body = match head.framing {
            Framing::Length(length) => {
                while self.buffer.len() < head_end + length {
                    self.fill().await?;
                }
                let body = self.buffer[head_end..head_end + length].to_vec();
                self.buffer.drain(..head_end + length);
                body
            }
            Framing::Chunked => {
                self.buffer.drain(..head_end);
                self.read_chunked().await?
            }
        };
        Ok(Response {
            status: head.status,
            body,
        })
    }

    async fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(pos) = find(&self.buffer, b"\r\n") {
                    break pos;
                }
                self.fill().await?;
            };
            let size_text = std::str::from_utf8(&self.buffer[..line_end])
                .map_err(|_| invalid("chunk size is not text"))?;
            let size_text = size_text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| invalid("chunk size is not hexadecimal"))?;
            // Chunk data, then its CRLF (for the last chunk: the empty trailer's CRLF).
            let needed = line_end + 2 + size + 2;
            while self.buffer.len() < needed {
                self.fill().await?;
            }
            body.extend_from_slice(&self.buffer[line_end + 2..line_end + 2 + size]);
            self.buffer.drain(..needed);
            if size == 0 {
                return Ok(body);
            }
        }
    }
}

enum Framing {
    Length(usize),
    Chunked,
}

struct Head {
    status: u16,
    framing: Framing,
}

fn parse_head(head: &[u8]) -> io::Result<Head> {
    let text = std::str::from_utf8(head).map_err(|_| invalid("response head is not text"))?;
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| invalid("no status line"))?;
    let mut framing = Framing::Length(0);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let length = value
                .parse()
                .map_err(|_| invalid("Content-Length is not a number"))?;
            framing = Framing::Length(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.eq_ignore_ascii_case("chunked")
        {
            framing = Framing::Chunked;
        }
    }
    Ok(Head { status, framing })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// A blocking `GET` on a fresh connection, for start-up probes: `Some(status)` once something
/// answers, `None` while nothing listens yet.
pub fn probe_status(addr: SocketAddr, path: &str, timeout: Duration) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = StdTcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_nodelay(true).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    while find(&head, b"\r\n").is_none() {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    parse_head(&head[..find(&head, b"\r\n").map_or(head.len(), |p| p + 2)])
        .ok()
        .map(|h| h.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_host_and_length() {
        let request = post_json("/", b"{}");
        let text = String::from_utf8(request).expect("ascii");
        assert!(text.starts_with("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
        assert!(text.contains("Content-Type: application/json\r\n"));
        assert!(text.ends_with("Content-Length: 2\r\n\r\n{}"));
    }

    #[test]
    fn parses_status_and_framing() {
        let head = parse_head(b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 17\r\n\r\n")
            .expect("valid head");
        assert_eq!(head.status, 429);
        assert!(matches!(head.framing, Framing::Length(17)));
        let head = parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .expect("valid head");
        assert!(matches!(head.framing, Framing::Chunked));
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }

    #[tokio::test]
    async fn reads_length_and_chunked_answers_on_one_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut seen = Vec::new();
            let mut chunk = [0u8; 1024];
            while seen.windows(4).filter(|w| w == b"\r\n\r\n").count() < 2 {
                let n = socket.read(&mut chunk).await.expect("read");
                seen.extend_from_slice(&chunk[..n]);
            }
            socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                .await
                .expect("write");
            socket
                .write_all(
                    b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                )
                .await
                .expect("write");
        });
        let mut connection = Connection::connect(addr).await.expect("connect");
        // Both requests go out first, so both answers may arrive in one read.
        connection
            .stream
            .write_all(&get("/a"))
            .await
            .expect("write");
        let first = connection.send(&get("/b")).await.expect("first answer");
        assert_eq!((first.status, first.body.as_slice()), (200, &b"hello"[..]));
        let second = connection.read_response().await.expect("second answer");
        assert_eq!(
            (second.status, second.body.as_slice()),
            (201, &b"abcde"[..])
        );
        server.await.expect("server task");
    }
}
