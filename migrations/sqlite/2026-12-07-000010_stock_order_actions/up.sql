-- Acting on the plan: what the server keeps about a stock order besides the
-- order itself (which lives in stock_orders / stock_order_lines like an
-- imported one, so the plan counts both by one mechanism).
--
-- stock_order_meta: one row per order created or changed through the
-- server (an imported order has none): the order date, who created it,
-- the push to the account's connection, and the lines cancelled while
-- active (JSON object: line id -> quantity ordered before). A transfer
-- between two children is a pair of orders, one in each child (out of the
-- source, into the destination): each names the other as its partner, and
-- confirming, cancelling, receiving or editing one does the same to both.
CREATE TABLE stock_order_meta (
    account_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    ordered_at DATE,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    push_state TEXT NOT NULL,
    push_error TEXT,
    pushed_at TIMESTAMP,
    cancelled_lines TEXT NOT NULL,
    partner_account_id TEXT,
    partner_order_id TEXT,
    PRIMARY KEY (account_id, order_id)
);

-- Every change to an order made through the server: who, when, what.
CREATE TABLE stock_order_history (
    account_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (account_id, order_id, seq)
);
