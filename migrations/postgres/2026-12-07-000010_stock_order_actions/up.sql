-- Acting on the plan: what the server keeps about a stock order besides the
-- order itself (which lives in stock_orders / stock_order_lines like an
-- imported one, so the plan counts both by one mechanism).
--
-- stock_order_meta: one row per order created or changed through the
-- server (an imported order has none): the order date, who created it,
-- the push to the account's connection, and the lines cancelled while
-- active (JSON object: line number -> quantity ordered before).
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
