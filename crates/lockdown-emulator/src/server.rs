//! HTTP plumbing: the listener (with connections that can be dropped on purpose), the single
//! handler that records, delays, injects faults, and answers with Graph's common headers.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode};
use axum::serve::{IncomingStream, Listener};
use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::errors::Reply;
use super::faults::{status_reply, FaultEngine};
use super::routes::{self, Request};
use super::state::Tenant;
use super::throttle::Throttle;
use super::{auth, batch, lock, seed, EmulatorConfig, FaultKind, RequestRecord, Seed};

/// Graph's JSON content type.
pub(crate) const JSON_CONTENT_TYPE: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

#[derive(Debug)]
pub(crate) struct Shared {
    /// Whether `$batch` is served (a proxy in front of Graph may not pass it).
    pub batching: bool,
    pub base_url: String,
    pub ca_pem: Option<String>,
    pub latency: Duration,
    pub time_scale: f64,
    pub throttling: bool,
    pub max_page_size: usize,
    pub tenant: Mutex<Tenant>,
    pub throttle: Mutex<Throttle>,
    pub faults: Mutex<FaultEngine>,
    pub clock: Instant,
    pub admin_token: String,
    pub app_token: String,
    /// [`super::EmulatorConfig::sts_token_lifetime`].
    pub sts_token_lifetime: Option<Duration>,
}

impl Shared {
    /// Seconds on the emulated clock since start.
    pub fn emulated_secs(&self) -> f64 {
        self.clock.elapsed().as_secs_f64() * self.time_scale
    }

    /// What the token endpoint grants a sign-in that passed its checks: the app token and its
    /// `expires_in`, or a fresh short-lived one.
    pub fn sts_grant(&self) -> (String, u64) {
        match self.sts_token_lifetime {
            // The app token was issued at start: a little under its hour, as Entra says 3599.
            None => (self.app_token.clone(), 3599),
            Some(lifetime) => {
                let secs = lifetime.as_secs().max(1);
                let mut tenant = super::lock(&self.tenant);
                let token = auth::issue(&mut tenant, &auth::app_spec(), Duration::from_secs(secs));
                (token, secs)
            }
        }
    }
}

#[derive(Debug)]
pub(crate) struct ShutdownGuard {
    tx: Mutex<Option<oneshot::Sender<()>>>,
}

impl ShutdownGuard {
    pub fn stop(&self) {
        if let Some(tx) = lock(&self.tx).take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for ShutdownGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCP stream that can be cut: once `kill` is set, every read sees EOF and every write fails,
/// so hyper drops the connection without sending anything.
/// A connection, plain or TLS.
pub(crate) enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Io::Plain($s) => {
                let $s = Pin::new($s);
                $e
            }
            Io::Tls($s) => {
                let $s = Pin::new($s.as_mut());
                $e
            }
        }
    };
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write(cx, buf))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_shutdown(cx))
    }
}

pub(crate) struct KillableStream {
    inner: Io,
    kill: Arc<AtomicBool>,
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.kill.load(Ordering::SeqCst) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.kill.load(Ordering::SeqCst) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "fault: drop connection",
            )));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.kill.load(Ordering::SeqCst) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "fault: drop connection",
            )));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

pub(crate) struct KillableListener(TcpListener, Option<tokio_rustls::TlsAcceptor>);

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((s, a)) => {
                    let _ = s.set_nodelay(true);
                    let inner = match &self.1 {
                        None => Io::Plain(s),
                        // A client that fails the handshake is dropped; the next one is served.
                        Some(acceptor) => {
                            match tokio::time::timeout(Duration::from_secs(5), acceptor.accept(s))
                                .await
                            {
                                Ok(Ok(tls)) => Io::Tls(Box::new(tls)),
                                _ => continue,
                            }
                        }
                    };
                    return (
                        KillableStream {
                            inner,
                            kill: Arc::new(AtomicBool::new(false)),
                        },
                        a,
                    );
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

#[derive(Clone)]
pub(crate) struct Conn(Arc<AtomicBool>);

impl axum::extract::connect_info::Connected<IncomingStream<'_, KillableListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        Conn(stream.io().kill.clone())
    }
}

pub(crate) async fn start(
    addr: SocketAddr,
    config: EmulatorConfig,
) -> io::Result<(Arc<Shared>, SocketAddr, ShutdownGuard)> {
    let mut tenant = match config.seed {
        Seed::Contoso => seed::contoso(),
        Seed::Bulk {
            users,
            devices_per_user,
        } => seed::bulk(users, devices_per_user),
    };
    tenant.intune = config.intune;
    tenant.entra_id = config.entra_id;
    tenant.defender_for_identity = config.defender_for_identity;
    if config.lockdown_setup {
        seed::setup(&mut tenant);
    }
    super::sign_ins::seed(&mut tenant);
    super::audits::seed(&mut tenant);
    super::owned::seed(&mut tenant);
    super::auth_methods::seed_history(&mut tenant);
    let admin_token = auth::issue(&mut tenant, &auth::admin_spec(), auth::DEFAULT_LIFETIME);
    let app_token = auth::issue(&mut tenant, &auth::app_spec(), auth::DEFAULT_LIFETIME);
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let host = if local.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), local.port())
    } else {
        local
    };
    let tls = if config.tls {
        Some(super::tls::generate()?)
    } else {
        None
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
    let shared = Arc::new(Shared {
        batching: config.batching,
        ca_pem,
        base_url: format!("{scheme}://{host}"),
        latency: config.latency,
        time_scale: if config.time_scale > 0.0 {
            config.time_scale
        } else {
            1.0
        },
        throttling: config.throttling,
        max_page_size: config.max_page_size.max(1),
        throttle: Mutex::new(Throttle::new(tenant.users.len())),
        tenant: Mutex::new(tenant),
        faults: Mutex::new(FaultEngine::new(config.faults, config.fault_seed)),
        clock: Instant::now(),
        admin_token,
        app_token,
        sts_token_lifetime: config.sts_token_lifetime,
    });
    let app = Router::new().fallback(handle).with_state(shared.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let make = app.into_make_service_with_connect_info::<Conn>();
    tokio::spawn(async move {
        let _ = axum::serve(KillableListener(listener, tls.map(|t| t.acceptor)), make)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    Ok((
        shared,
        local,
        ShutdownGuard {
            tx: Mutex::new(Some(tx)),
        },
    ))
}

fn header_str(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    req: axum::extract::Request,
) -> Response<Body> {
    let method = req.method().as_str().to_ascii_uppercase();
    let raw_path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let headers = req.headers().clone();
    let authorization = header_str(&headers, "authorization");
    let path = super::odata::decode(&raw_path);
    let body = axum::body::to_bytes(req.into_body(), 16 * 1024 * 1024)
        .await
        .unwrap_or_default();

    let seq = {
        let mut tenant = lock(&shared.tenant);
        let token = auth::tag(&tenant, authorization.as_deref());
        tenant.record(RequestRecord {
            method: method.clone(),
            path: path.clone(),
            raw_path: raw_path.clone(),
            query: query.clone(),
            status: 0,
            in_batch: false,
            token,
            priority: header_str(&headers, "x-ms-throttle-priority")
                .map(|p| p.to_ascii_lowercase()),
            at: std::time::Instant::now(),
        })
    };
    if !shared.latency.is_zero() {
        tokio::time::sleep(shared.latency).await;
    }

    // learn: graph/errors — request-id / client-request-id (echoed when the client sends one).
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id =
        header_str(&headers, "client-request-id").unwrap_or_else(|| request_id.clone());

    let fault = lock(&shared.faults).pick(&method, &path, false);
    let mut malformed = false;
    let mut reply: Option<Reply> = None;
    match &fault {
        Some(FaultKind::DropConnection) => {
            conn.0.store(true, Ordering::SeqCst);
            return Response::new(Body::empty());
        }
        Some(FaultKind::Slow { delay }) => tokio::time::sleep(*delay).await,
        Some(FaultKind::MalformedJson) => malformed = true,
        Some(k) => reply = status_reply(k),
        None => {}
    }
    let mut reply = match reply {
        Some(r) => r,
        None => {
            let shared2 = shared.clone();
            let body = body.to_vec();
            let auth2 = authorization.clone();
            let crid = client_request_id.clone();
            let is_batch =
                shared.batching && method == "POST" && path.trim_end_matches('/') == "/v1.0/$batch";
            let req = Request {
                method: method.clone(),
                path: path.clone(),
                query: query.clone(),
                authorization: auth2.clone(),
                body: Some(body.clone()),
            };
            let sts_tenant = (method == "POST")
                .then(|| path.strip_suffix("/oauth2/v2.0/token"))
                .flatten()
                .map(|t| t.trim_start_matches('/').to_owned())
                .filter(|t| !t.is_empty() && !t.contains('/'));
            // The tenant is behind std mutexes: run the work off the async worker.
            tokio::task::spawn_blocking(move || {
                if let Some(tenant) = sts_tenant {
                    super::sts::token(&tenant, &body, || shared2.sts_grant())
                } else if is_batch {
                    batch::run(&shared2, &body, auth2, &crid)
                } else {
                    routes::execute(&shared2, &req)
                }
            })
            .await
            .unwrap_or_else(|_| {
                Reply::error(
                    500,
                    "generalException",
                    "An unspecified error has occurred.",
                )
            })
        }
    };
    reply.finish(&request_id, &client_request_id);
    lock(&shared.tenant).set_status(seq, reply.status);

    let mut status = reply.status;
    let mut bytes = reply
        .body
        .as_ref()
        .map(|b| serde_json::to_vec(b).unwrap_or_default());
    if malformed {
        let full = bytes.unwrap_or_else(|| b"{\"value\":[{\"id\":\"".to_vec());
        let cut = (full.len() / 2).max(1);
        bytes = Some(full[..cut].to_vec());
        if status == 204 {
            status = 200;
        }
    }
    let mut resp = Response::new(match &bytes {
        Some(b) => Body::from(b.clone()),
        None => Body::empty(),
    });
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    let mut put = |k: &str, v: &str| {
        if let (Ok(name), Ok(val)) = (
            axum::http::HeaderName::try_from(k),
            HeaderValue::from_str(v),
        ) {
            h.append(name, val);
        }
    };
    put("request-id", &request_id);
    put("client-request-id", &client_request_id);
    put("Date", &httpdate::fmt_http_date(SystemTime::now()));
    put("Cache-Control", "no-cache");
    if bytes.is_some() {
        put("Content-Type", JSON_CONTENT_TYPE);
    }
    for (k, v) in &reply.headers {
        put(k, v);
    }
    resp
}
