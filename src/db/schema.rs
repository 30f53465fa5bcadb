//! The one diesel schema shared by SQLite and PostgreSQL (written by hand in
//! the common SQL subset: text, integers, booleans, doubles, UTC timestamps).

diesel::table! {
    organisations (id) {
        id -> Text,
        name -> Text,
        created_at -> Timestamp,
        accounts_version -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        organisation_id -> Text,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        created_at -> Timestamp,
        token_version -> BigInt,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        organisation_id -> Text,
        user_id -> Text,
        name -> Text,
        key_hash -> Text,
        account_ids -> Nullable<Text>,
        read_only -> Bool,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    server_settings (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    accounts (id) {
        id -> Text,
        organisation_id -> Text,
        name -> Text,
        kind -> Text,
        master_id -> Nullable<Text>,
        currency -> Text,
        timezone -> Text,
        connection_kind -> Nullable<Text>,
        connection_settings -> Nullable<Text>,
        connection_secret -> Nullable<Text>,
        include_stock -> Bool,
        include_sales -> Bool,
        lead_time_days -> Integer,
        days_of_stock -> Integer,
        service_level -> Double,
        last_synced_at -> Nullable<Timestamp>,
        change_seq -> BigInt,
        data_version -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    warehouses (account_id, id) {
        account_id -> Text,
        id -> Text,
        name -> Text,
        updated_at -> Timestamp,
        removed -> Bool,
        fingerprint -> BigInt,
        seq -> BigInt,
    }
}

diesel::table! {
    vendors (account_id, id) {
        account_id -> Text,
        id -> Text,
        name -> Text,
        currency -> Nullable<Text>,
        lead_time_days -> Nullable<Integer>,
        minimum_order_quantity -> Nullable<Text>,
        pack_size -> Nullable<Text>,
        updated_at -> Timestamp,
        removed -> Bool,
        fingerprint -> BigInt,
        seq -> BigInt,
    }
}

diesel::table! {
    variants (account_id, id) {
        account_id -> Text,
        id -> Text,
        sku -> Text,
        sku_norm -> Text,
        barcode -> Nullable<Text>,
        title -> Nullable<Text>,
        product_id -> Nullable<Text>,
        product_title -> Nullable<Text>,
        vendor_id -> Nullable<Text>,
        vendors -> Nullable<Text>,
        brand -> Nullable<Text>,
        category -> Nullable<Text>,
        tags -> Nullable<Text>,
        cost_price -> Nullable<Text>,
        retail_price -> Nullable<Text>,
        currency -> Nullable<Text>,
        tracked -> Bool,
        lead_time_days -> Nullable<Integer>,
        min_stock -> Nullable<Text>,
        max_stock -> Nullable<Text>,
        components -> Nullable<Text>,
        assembly -> Bool,
        updated_at -> Timestamp,
        removed -> Bool,
        fingerprint -> BigInt,
        seq -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    stock_levels (account_id, variant_id, warehouse_id) {
        account_id -> Text,
        variant_id -> Text,
        warehouse_id -> Text,
        on_hand -> Text,
        allocated -> Text,
        updated_at -> Timestamp,
        fingerprint -> BigInt,
        seq -> BigInt,
    }
}

diesel::table! {
    stock_history (account_id, variant_id, warehouse_id, day) {
        account_id -> Text,
        variant_id -> Text,
        warehouse_id -> Text,
        day -> Date,
        available -> Text,
        reading_at -> Timestamp,
    }
}

diesel::table! {
    sales_orders (account_id, id) {
        account_id -> Text,
        id -> Text,
        ordered_at -> Timestamp,
        warehouse_id -> Nullable<Text>,
        currency -> Text,
        cancelled -> Bool,
        removed -> Bool,
        updated_at -> Timestamp,
        fingerprint -> BigInt,
        seq -> BigInt,
    }
}

diesel::table! {
    sales_order_lines (account_id, order_id, line_id) {
        account_id -> Text,
        order_id -> Text,
        line_id -> Text,
        variant_id -> Text,
        quantity -> Text,
        unit_price -> Nullable<Text>,
    }
}

diesel::table! {
    stock_orders (account_id, id) {
        account_id -> Text,
        id -> Text,
        kind -> Text,
        status -> Text,
        vendor_id -> Nullable<Text>,
        source_warehouse_id -> Nullable<Text>,
        destination_warehouse_id -> Nullable<Text>,
        expected_at -> Nullable<Date>,
        currency -> Text,
        updated_at -> Timestamp,
        removed -> Bool,
        fingerprint -> BigInt,
        seq -> BigInt,
    }
}

diesel::table! {
    stock_order_lines (account_id, order_id, line_no) {
        account_id -> Text,
        order_id -> Text,
        line_no -> Integer,
        line_id -> Nullable<Text>,
        variant_id -> Text,
        quantity -> Text,
        received_quantity -> Nullable<Text>,
        unit_cost -> Nullable<Text>,
    }
}

diesel::table! {
    imports (id) {
        id -> Text,
        account_id -> Text,
        entity -> Text,
        format -> Text,
        user_email -> Text,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        status -> Text,
        counts -> Text,
        problems -> Text,
    }
}

diesel::joinable!(users -> organisations (organisation_id));
diesel::joinable!(api_keys -> organisations (organisation_id));

diesel::allow_tables_to_appear_in_same_query!(
    organisations,
    users,
    api_keys,
    server_settings,
    accounts,
    warehouses,
    vendors,
    variants,
    stock_levels,
    stock_history,
    sales_orders,
    sales_order_lines,
    stock_orders,
    stock_order_lines,
    imports,
);
