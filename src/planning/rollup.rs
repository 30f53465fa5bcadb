//! The roll-up stage: the one definition of which children's variants make
//! up a master's row (normalised SKU, or the target of an explicit link),
//! which of a child's warehouses a master counts, and the conflicts a
//! merchant should resolve. The plan, the demand page and the conflicts list
//! all ask this module.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::db::models::planning::SkuLink;
use crate::db::models::Account;
use crate::domain::sku;
use crate::planning::snapshot::ChildData;

/// Which warehouses of one child a master counts (absent: the child's flag).
#[derive(Debug, Clone, Default)]
pub(crate) struct WarehouseFlags(pub(crate) HashMap<String, (bool, bool)>);

impl WarehouseFlags {
    pub(crate) fn stock(&self, child: &Account, wh: Option<&str>) -> bool {
        child.include_stock && wh.and_then(|w| self.0.get(w)).map(|f| f.0).unwrap_or(true)
    }
    pub(crate) fn sales(&self, child: &Account, wh: Option<&str>) -> bool {
        child.include_sales && wh.and_then(|w| self.0.get(w)).map(|f| f.1).unwrap_or(true)
    }
}

/// A roll-up problem the merchant should resolve (`GET …/conflicts`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Conflict {
    /// The normalised SKU concerned.
    pub sku: String,
    /// Machine-friendly kind.
    pub kind: String,
    /// The accounts involved.
    pub account_ids: Vec<String>,
    /// What is wrong and what to do.
    pub message: String,
}

/// Keys a child's variants: normalised SKU; a second variant of the same
/// child with the same key gets `key#variant id` (and is a conflict).
pub(crate) fn child_keys(c: &ChildData, conflicts: &mut Vec<Conflict>) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    c.variants
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let key = sku::normalise(&v.sku);
            if let Some(&first) = seen.get(&key) {
                conflicts.push(Conflict {
                    sku: key.clone(),
                    kind: "duplicate_sku_in_account".into(),
                    account_ids: vec![c.account.id.clone()],
                    message: format!(
                        "Variants `{}` and `{}` of account {} have the same SKU once normalised (`{}`); they are planned apart. Give one of them its own SKU, or remove the duplicate.",
                        c.variants[first].id, v.id, c.account.name, key
                    ),
                });
                format!("{key}#{}", v.id)
            } else {
                seen.insert(key.clone(), i);
                key
            }
        })
        .collect()
}

/// The master's roll-up: its children's data grouped by normalised SKU and
/// links, with the conflicts found on the way.
pub(crate) struct Rollup {
    /// Group key → members (child index, variant index), children in
    /// creation order.
    pub(crate) groups: BTreeMap<String, Vec<(usize, usize)>>,
    pub(crate) conflicts: Vec<Conflict>,
}

/// A master's explicit links: a child's variant → the normalised SKU of the
/// row it joins (instead of its own normalised SKU).
#[derive(Debug, Clone, Default)]
pub struct Links(HashMap<(String, String), String>);

impl Links {
    /// The links of a master, as stored.
    pub fn new(links: &[SkuLink]) -> Links {
        Links(
            links
                .iter()
                .map(|l| {
                    (
                        (l.account_id.clone(), l.variant_id.clone()),
                        sku::normalise(&l.sku),
                    )
                })
                .collect(),
        )
    }

    /// The master row that variant `variant_id` (SKU `sku`) of child
    /// `account_id` belongs to: its link's target, else its normalised SKU.
    /// Every variant of a child with that key is a member of the row (two
    /// spellings of one code in one child are one item to the master).
    pub fn row_key(&self, account_id: &str, variant_id: &str, sku: &str) -> String {
        self.0
            .get(&(account_id.to_string(), variant_id.to_string()))
            .cloned()
            .unwrap_or_else(|| sku::normalise(sku))
    }

    /// The variants of child `account_id` linked to row `key`.
    pub fn linked_to<'a>(
        &'a self,
        account_id: &'a str,
        key: &'a str,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |((a, _), k)| a == account_id && k.as_str() == key)
            .map(|((_, v), _)| v.as_str())
    }
}

pub(crate) fn roll_up(children: &[ChildData], links: &[SkuLink]) -> Rollup {
    let mut conflicts = Vec::new();
    let links = Links::new(links);
    let mut groups: BTreeMap<String, Vec<(usize, usize)>> = BTreeMap::new();
    for (ci, c) in children.iter().enumerate() {
        // Two variants of one child with the same normalised SKU are one
        // item to the master (listed as a conflict so the merchant can fix
        // the source); the child's own plan keeps them apart.
        let _ = child_keys(c, &mut conflicts);
        for (vi, v) in c.variants.iter().enumerate() {
            let key = links.row_key(&c.account.id, &v.id, &v.sku);
            groups.entry(key).or_default().push((ci, vi));
        }
    }
    for (key, members) in &groups {
        let barcodes: BTreeMap<String, Vec<String>> =
            members.iter().fold(BTreeMap::new(), |mut m, &(ci, vi)| {
                if let Some(b) = children[ci].variants[vi]
                    .barcode
                    .as_deref()
                    .map(str::trim)
                    .filter(|b| !b.is_empty())
                {
                    m.entry(b.to_string())
                        .or_default()
                        .push(children[ci].account.id.clone());
                }
                m
            });
        if barcodes.len() > 1 {
            conflicts.push(Conflict {
                sku: key.clone(),
                kind: "barcode_mismatch".into(),
                account_ids: barcodes.values().flatten().cloned().collect(),
                message: format!(
                    "SKU `{key}` has different barcodes in different accounts ({}); check that it is the same item. If it is not, change one SKU; if it is, correct the barcode.",
                    barcodes.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        let titles: HashSet<&str> = members
            .iter()
            .filter_map(|&(ci, vi)| children[ci].variants[vi].title.as_deref())
            .collect();
        let vendors: HashSet<&str> = members
            .iter()
            .map(|&(ci, vi)| children[ci].terms[vi].vendor_name.as_str())
            .filter(|v| !v.is_empty())
            .collect();
        if vendors.len() > 1 {
            conflicts.push(Conflict {
                sku: key.clone(),
                kind: "vendor_differs".into(),
                account_ids: members.iter().map(|&(ci, _)| children[ci].account.id.clone()).collect(),
                message: format!(
                    "SKU `{key}` has different vendors in different accounts; the master uses the one of the earliest-created account. Align the vendors if that is wrong."
                ),
            });
        } else if titles.len() > 1 {
            conflicts.push(Conflict {
                sku: key.clone(),
                kind: "title_differs".into(),
                account_ids: members.iter().map(|&(ci, _)| children[ci].account.id.clone()).collect(),
                message: format!(
                    "SKU `{key}` has different titles in different accounts; the master shows the one of the earliest-created account."
                ),
            });
        }
    }
    Rollup { groups, conflicts }
}
