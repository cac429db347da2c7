//! Preflight checks of the Redis target (`sluice check`, and every start of the sink).

use sluice_core::Check;

use crate::config::RedisEndpoint;
use crate::sink::open;

/// `ensure_connect` (reach, authenticate, `PING`), then `ensure_transactions` (a `MULTI`/`EXEC`
/// that writes and deletes a scratch key: the sink's every commit is one).
pub async fn check_sink(endpoint: &str, ep: &RedisEndpoint) -> Vec<Check> {
    let mut conn = match open(ep).await {
        Ok(c) => c,
        Err(e) => {
            return vec![Check::error(
                endpoint,
                "connect",
                e.to_string(),
                "check [sink.connection] url, username, password",
            )]
        }
    };
    let mut checks = vec![Check::pass(endpoint, "connect", ep.url.clone())];
    checks.push(ensure_transactions(endpoint, &mut conn).await);
    checks
}

async fn ensure_transactions(endpoint: &str, conn: &mut redis::aio::MultiplexedConnection) -> Check {
    let key = format!("sluice:check:{}", std::process::id());
    let mut pipe = redis::pipe();
    pipe.atomic().cmd("SET").arg(&key).arg("1").ignore().cmd("DEL").arg(&key).ignore();
    match pipe.query_async::<()>(conn).await {
        Ok(()) => Check::pass(endpoint, "transactions", "MULTI/EXEC with SET and DEL allowed"),
        Err(e) => Check::fail(
            endpoint,
            "transactions",
            "MULTI/EXEC with SET, HSET, DEL, WATCH, SCAN allowed",
            e.to_string(),
            "grant the user +@write +@transaction +@keyspace (ACL SETUSER), or use another user",
        ),
    }
}
