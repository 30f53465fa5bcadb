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
    import_claims (account_id, order_id) {
        account_id -> Text,
        order_id -> Text,
        import_key -> Text,
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
    stock_order_meta (account_id, order_id) {
        account_id -> Text,
        order_id -> Text,
        ordered_at -> Nullable<Date>,
        created_by -> Text,
        created_at -> Timestamp,
        push_state -> Text,
        push_error -> Nullable<Text>,
        pushed_at -> Nullable<Timestamp>,
        cancelled_lines -> Text,
        partner_account_id -> Nullable<Text>,
        partner_order_id -> Nullable<Text>,
    }
}

diesel::table! {
    stock_order_history (account_id, order_id, seq) {
        account_id -> Text,
        order_id -> Text,
        seq -> BigInt,
        at -> Timestamp,
        actor -> Text,
        action -> Text,
        detail -> Text,
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

diesel::table! {
    jobs (id) {
        id -> Text,
        organisation_id -> Text,
        kind -> Text,
        account_id -> Text,
        status -> Text,
        progress_done -> BigInt,
        progress_total -> BigInt,
        attempts -> Integer,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        detail -> Text,
        error -> Nullable<Text>,
        created_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    plans (account_id) {
        account_id -> Text,
        inputs_version -> Text,
        planning_date -> Date,
        computed_at -> Timestamp,
        line_count -> BigInt,
        seconds -> Double,
        summary -> Text,
        lines_key -> Text,
    }
}

diesel::table! {
    plan_lines (account_id, sku_key) {
        account_id -> Text,
        sku_key -> Text,
        sku -> Text,
        title -> Text,
        vendor -> Text,
        category -> Text,
        brand -> Text,
        tags -> Text,
        available -> Double,
        on_order -> Double,
        demand_per_day -> Double,
        lead_time_days -> Double,
        days_of_stock -> Double,
        coverage_demand -> Double,
        safety_stock -> Double,
        reorder_point -> Double,
        order_quantity -> Double,
        order_by -> Nullable<Date>,
        days_of_cover -> Nullable<Double>,
        urgency -> Text,
        urgency_rank -> Integer,
        forecast_method -> Text,
        unit_cost -> Nullable<Double>,
        order_value -> Nullable<Double>,
        flags -> Text,
    }
}

diesel::table! {
    /// The catalogue calibration of an account's plan lines, per planning
    /// date and engine version.
    plan_calibrations (account_id, planning_date, version) {
        account_id -> Text,
        planning_date -> Date,
        version -> Text,
        calibration -> Text,
        fitted_at -> Timestamp,
    }
}

diesel::table! {
    plan_touches (account_id, data_version, variant_id) {
        account_id -> Text,
        data_version -> BigInt,
        variant_id -> Text,
    }
}

diesel::table! {
    plan_details (account_id, sku_key) {
        account_id -> Text,
        sku_key -> Text,
        accounts -> Text,
        explanation -> Binary,
        supply -> Text,
    }
}

diesel::table! {
    sku_links (master_id, account_id, variant_id) {
        master_id -> Text,
        account_id -> Text,
        variant_id -> Text,
        sku -> Text,
    }
}

diesel::table! {
    warehouse_settings (master_id, account_id, warehouse_id) {
        master_id -> Text,
        account_id -> Text,
        warehouse_id -> Text,
        include_stock -> Bool,
        include_sales -> Bool,
    }
}

diesel::table! {
    exchange_rates (organisation_id, from_currency, to_currency, day) {
        organisation_id -> Text,
        day -> Date,
        from_currency -> Text,
        to_currency -> Text,
        rate -> Double,
    }
}

diesel::table! {
    sync_cursors (account_id, entity) {
        account_id -> Text,
        entity -> Text,
        cursor -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sync_schedules (organisation_id) {
        organisation_id -> Text,
        interval_minutes -> Integer,
        last_run_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(users -> organisations (organisation_id));
diesel::joinable!(api_keys -> organisations (organisation_id));

diesel::table! {
    sku_settings (account_id, sku_key) {
        account_id -> Text,
        sku_key -> Text,
        sku -> Text,
        not_for_reorder -> Bool,
        note -> Nullable<Text>,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}

diesel::table! {
    /// A merchant's quantity for one week of a SKU's supply plan.
    supply_overrides (account_id, sku_key, first_day) {
        account_id -> Text,
        sku_key -> Text,
        first_day -> Date,
        quantity -> Double,
        updated_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    import_claims,
    organisations,
    plan_calibrations,
    plan_touches,
    sku_settings,
    supply_overrides,
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
    stock_order_meta,
    stock_order_history,
    imports,
    jobs,
    plans,
    plan_details,
    plan_lines,
    sku_links,
    warehouse_settings,
    exchange_rates,
    sync_cursors,
    sync_schedules,
);

diesel::table! {
    /// Customers sent through the compatible API (no native entity).
    compat_customers (account_id, code) {
        /// Account.
        account_id -> Text,
        /// The customer's code.
        code -> Text,
        /// The `CustomerDto` as JSON.
        body -> Text,
        /// Last written.
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// Forecast edits (migration `2026-12-07-000011_forecast_edits`).
    forecast_edits (id) {
        /// Opaque id.
        id -> Text,
        /// Account whose plan the edit changes.
        account_id -> Text,
        /// `sku`, `category`, `vendor_id`, `brand` or `tag`.
        target_kind -> Text,
        /// The target as given.
        target -> Text,
        /// What the target matches (a SKU normalised).
        target_key -> Text,
        /// `YYYY-MM`.
        month -> Text,
        /// `quantity`, `percent` or `no_demand`.
        kind -> Text,
        /// Decimal text; null for `no_demand`.
        value -> Nullable<Text>,
        /// The merchant's note.
        note -> Nullable<Text>,
        /// When it was written.
        created_at -> Timestamp,
        /// Who wrote it (e-mail).
        created_by -> Text,
    }
}

diesel::table! {
    /// Every change of a forecast edit.
    forecast_edit_history (seq) {
        /// Order of the changes.
        seq -> BigInt,
        /// Account.
        account_id -> Text,
        /// The edit.
        edit_id -> Text,
        /// `created`, `updated` or `deleted`.
        action -> Text,
        /// Target kind.
        target_kind -> Text,
        /// Target as given.
        target -> Text,
        /// `YYYY-MM`.
        month -> Text,
        /// Edit kind.
        kind -> Text,
        /// Decimal text.
        value -> Nullable<Text>,
        /// Note.
        note -> Nullable<Text>,
        /// When.
        at -> Timestamp,
        /// Who (e-mail).
        by_user -> Text,
    }
}
