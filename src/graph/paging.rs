//! Collections that come in pages: follow `@odata.nextLink` whole, never rebuild it
//! (learn: graph/paging).

use serde::Deserialize;

use super::{GraphClient, GraphError, GraphRequest, GraphResponse};

/// One page of a collection.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
}

/// A whole collection as the engine hands it on: `{"value": [...]}`.
#[derive(Debug, Deserialize)]
pub struct Items {
    pub value: Vec<serde_json::Value>,
}

/// Complete a first page that was fetched elsewhere (in a batch): follow its
/// `@odata.nextLink`, if any, at the first page's priority, and answer with every item in one
/// body.
pub async fn complete(
    client: &GraphClient,
    first: GraphResponse,
    priority: Option<super::Priority>,
    label: &str,
) -> Result<GraphResponse, GraphError> {
    let page: Page<serde_json::Value> = first.json()?;
    let Some(link) = page.next_link else {
        return Ok(first);
    };
    let mut items = page.value;
    let rest: Vec<serde_json::Value> =
        collect_all(client, GraphRequest::next_link(link).at(priority), label).await?;
    items.extend(rest);
    let body =
        serde_json::to_vec(&serde_json::json!({ "value": items })).expect("JSON values serialize");
    Ok(GraphResponse {
        status: first.status,
        headers: first.headers,
        body: body.into(),
    })
}

/// A guard against a server that hands back the same link forever.
const MAX_PAGES: usize = 10_000;

/// Every item of a collection, page after page.
pub async fn collect_all<T: serde::de::DeserializeOwned>(
    client: &GraphClient,
    first: GraphRequest,
    label: &str,
) -> Result<Vec<T>, GraphError> {
    let mut items = Vec::new();
    let mut req = first;
    let mut previous: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page: Page<T> = client.get_json(&req, label).await?;
        items.extend(page.value);
        match page.next_link {
            None => return Ok(items),
            Some(link) if previous.as_deref() == Some(link.as_str()) => {
                return Err(GraphError::Decode {
                    message: "Graph returned the same @odata.nextLink twice".into(),
                })
            }
            Some(link) => {
                previous = Some(link.clone());
                req = GraphRequest::next_link(link).at(req.priority);
            }
        }
    }
    Err(GraphError::Decode {
        message: format!("gave up after {MAX_PAGES} pages"),
    })
}
