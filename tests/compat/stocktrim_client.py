"""Drives tributary's StockTrim-compatible API with the published client.

Usage: stocktrim_client.py BASE_URL EMAIL PASSWORD

The server at BASE_URL must have the user EMAIL (an admin). The script logs
in through the native API, creates a child account and an API key scoped to
it, then uses the unmodified `stocktrim-openapi-client` package (its helpers
where they fit, its generated endpoint functions elsewhere) against
BASE_URL/compat/stocktrim: suppliers, locations, products, inventory, sales
orders (single and bulk), purchase orders, customers, bills of materials,
the forecast run and its processing status, the order plan and purchase
orders generated from it. It prints one line per check and a closing
`N passed, M failed`, and exits non-zero when any check failed.
"""

import asyncio
import datetime as dt
import sys
import traceback

import httpx
from stocktrim_public_api_client import StockTrimClient
from stocktrim_public_api_client.generated.api.bill_of_materials import (
    delete_api_boms,
    get_api_boms,
    post_api_boms,
)
from stocktrim_public_api_client.generated.api.products import (
    delete_api_products,
    get_api_products,
    post_api_products,
)
from stocktrim_public_api_client.generated.api.purchase_orders import delete_api_purchase_orders
from stocktrim_public_api_client.generated.api.run_forecast_calculations import (
    post_api_run_forecast_calculations,
)
from stocktrim_public_api_client.generated.api.sales_orders import (
    delete_api_sales_orders,
    post_api_sales_orders,
)
from stocktrim_public_api_client.generated.api.sales_orders_bulk import (
    post_api_sales_orders_bulk,
)
from stocktrim_public_api_client.generated.models import (
    BillOfMaterialsRequestDto,
    CustomerDto,
    Inventory,
    LocationRequestDto,
    OrderPlanFilterCriteria,
    OrderPlanFilterCriteriaDto,
    ProductLocation,
    ProductsRequestDto,
    ProductSupplier,
    PurchaseOrderLineItem,
    PurchaseOrderLocation,
    PurchaseOrderRequestDto,
    PurchaseOrderStatusDto,
    PurchaseOrderSupplier,
    SalesOrderRequestDto,
    SalesOrderWithLineItemsRequestDto,
    SetInventoryRequest,
    SupplierRequestDto,
)

TODAY = dt.date(2026, 3, 1)

passed = 0
failed = 0


def check(name, ok, detail=""):
    """Records one check."""
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


async def step(name, coro):
    """Runs one step; an exception is a failed check."""
    try:
        return await coro
    except Exception as e:  # noqa: BLE001 - every failure is reported
        check(name, False, f"raised {type(e).__name__}: {e}")
        traceback.print_exc()
        return None


def native_setup(base, email, password):
    """A child account and an API key scoped to it, through the native API."""
    with httpx.Client(base_url=base, timeout=30) as h:
        r = h.post("/api/v1/auth/token", json={"email": email, "password": password})
        r.raise_for_status()
        auth = {"Authorization": f"Bearer {r.json()['token']}"}
        r = h.post(
            "/api/v1/accounts",
            headers=auth,
            json={"name": "StockTrim feed", "currency": "USD", "connection": {"kind": "manual"}},
        )
        r.raise_for_status()
        account = r.json()["id"]
        r = h.post(
            "/api/v1/api-keys",
            headers=auth,
            json={"name": "stocktrim client", "account_ids": [account]},
        )
        r.raise_for_status()
        key = r.json()
        r = h.post(
            "/api/v1/api-keys",
            headers=auth,
            json={"name": "unscoped", "account_ids": None},
        )
        r.raise_for_status()
        unscoped = r.json()
        return auth, account, key, unscoped


def raw_checks(base, key, unscoped):
    """Authentication answers, checked with plain HTTP."""
    url = f"{base}/compat/stocktrim/api/Products"
    with httpx.Client(timeout=30) as h:
        r = h.get(url)
        check("no headers: 401", r.status_code == 401, r.status_code)
        r = h.get(url, headers={"api-auth-id": key["id"], "api-auth-signature": "wrong"})
        check("wrong signature: 401", r.status_code == 401, r.status_code)
        r = h.get(
            url, headers={"api-auth-id": unscoped["id"], "api-auth-signature": unscoped["key"]}
        )
        check("key not scoped to one account: 403", r.status_code == 403, r.status_code)
        r = h.get(url, headers={"api-auth-id": key["id"], "api-auth-signature": key["key"]})
        check("no products yet: 404 (as StockTrim)", r.status_code == 404, r.status_code)


async def run(base, key):
    client = StockTrimClient(
        api_auth_id=key["id"],
        api_auth_signature=key["key"],
        base_url=f"{base}/compat/stocktrim",
        max_retries=0,
    )
    async with client:
        empty = await step("products.get_all on empty", client.products.get_all())
        check("products.get_all on empty is []", empty == [], empty)

        # Suppliers (array POST) and locations (V1 and V2).
        # The client's suppliers.create cannot build its request in 0.14.1
        # (its generated code calls isinstance() with list[...]), so the
        # array POST goes through the client's own authenticated httpx client.
        h = client.get_async_httpx_client()
        r = await step(
            "POST Suppliers (array)",
            h.post(
                "/api/Suppliers",
                json=[
                    SupplierRequestDto(supplier_code="ACME", supplier_name="Acme Ltd", default_lead_time=10).to_dict(),
                    SupplierRequestDto(supplier_code="GLOBEX", supplier_name="Globex").to_dict(),
                ],
            ),
        )
        check(
            "suppliers created (201, both answered)",
            r is not None and r.status_code == 201 and len(r.json()) == 2,
            r is not None and (r.status_code, r.text[:300]),
        )
        one = await step("suppliers.find_by_code", client.suppliers.find_by_code("ACME"))
        check(
            "supplier read back",
            one is not None and one.supplier_name == "Acme Ltd" and one.default_lead_time == 10,
            one,
        )
        all_sups = await step("suppliers.get_all", client.suppliers.get_all())
        check("SuppliersBulk lists 2", isinstance(all_sups, list) and len(all_sups) == 2, all_sups)

        loc = await step(
            "locations.create",
            client.locations.create(LocationRequestDto(location_code="WH1", location_name="Main warehouse")),
        )
        check("location created", loc is not None and loc.location_code == "WH1", loc)
        from stocktrim_public_api_client.generated.api.locations_v2 import post_api_v2_locations

        r = await step(
            "V2 locations",
            post_api_v2_locations.asyncio_detailed(
                client=client, body=LocationRequestDto(location_code="STORE", location_name="Store")
            ),
        )
        check("V2 location created (201)", r is not None and r.status_code == 201, r and r.status_code)
        got = await step("locations.get_all(code)", client.locations.get_all(code="STORE"))
        check("location read back by code", got is not None and getattr(got, "location_name", None) == "Store", got)

        # Products: create, update (upsert), read by code and paged.
        p1 = await step(
            "products.create WIDGET",
            client.products.create(
                ProductsRequestDto(
                    product_id="P-1",
                    product_code_readable="WIDGET",
                    name="Widget",
                    category="Hardware",
                    cost=2.5,
                    price=9.99,
                    supplier_code="ACME",
                    minimum_order_quantity=10,
                    suppliers=[ProductSupplier(supplier_id="ACME", supplier_sku_code="AC-W")],
                )
            ),
        )
        check("product created", p1 is not None and p1.product_id == "P-1" and p1.product_code_readable == "WIDGET", p1)
        p2 = await step(
            "products.create GADGET",
            client.products.create(
                ProductsRequestDto(
                    product_id="P-2",
                    name="Gadget",
                    supplier_code="GLOBEX",
                    cost=4,
                    stock_locations=[ProductLocation(location_code="WH1", stock_on_hand=3)],
                )
            ),
        )
        check("product without a readable code takes productId as SKU", p2 is not None and p2.product_code_readable == "P-2", p2)
        check("product stockLocations set its stock", p2 is not None and p2.stock_on_hand == 3, p2 and p2.stock_on_hand)
        await step("products.create PART", client.products.create(ProductsRequestDto(product_id="P-3", name="Part")))
        upd = await step(
            "products.create (update) WIDGET",
            client.products.create(ProductsRequestDto(product_id="P-1", name="Widget v2")),
        )
        check(
            "upsert keeps fields not sent",
            upd is not None and upd.name == "Widget v2" and upd.category == "Hardware" and upd.cost == 2.5,
            upd,
        )
        found = await step("products.find_by_code", client.products.find_by_code("WIDGET"))
        check("product found by its code", found is not None and found.product_id == "P-1", found)
        check(
            "minimumOrderQuantity kept on the supplier terms",
            found is not None and found.minimum_order_quantity == 10,
            found and found.minimum_order_quantity,
        )
        page = await step("products.get_all_paginated", client.products.get_all_paginated())
        check("all products paged", page is not None and len(page) == 3, page and len(page))
        r = await step("GET Products?code=NOPE", get_api_products.asyncio_detailed(client=client, code="NOPE"))
        check("unknown code: 404", r is not None and r.status_code == 404, r and r.status_code)
        r = await step(
            "invalid product",
            post_api_products.asyncio_detailed(
                client=client, body=ProductsRequestDto(product_id="P-X", supplier_code="NO-SUCH-SUPPLIER")
            ),
        )
        check(
            "a bad reference answers 400 ProblemDetails",
            r is not None and r.status_code == 400 and r.parsed is not None and r.parsed.status == 400,
            r and (r.status_code, r.content[:300]),
        )

        # Inventory.
        inv = await step(
            "inventory.set",
            client.inventory.set(
                SetInventoryRequest(
                    update_overall_all_on_hand_to_be_sum_of_location=True,
                    update_overall_all_on_order_to_be_sum_of_location=True,
                    inventory=[
                        Inventory(product_id="P-1", location_code="WH1", stock_on_hand=4),
                        Inventory(product_id="P-1", location_code="STORE", stock_on_hand=1),
                        Inventory(product_id="P-3", location_code="WH1", stock_on_hand=100),
                    ],
                )
            ),
        )
        check("inventory accepted", inv is not None and "3 stock level" in (inv.message or ""), inv)
        found = await step("products.find_by_code after inventory", client.products.find_by_code("WIDGET"))
        check("stock on hand is the sum of the locations", found is not None and found.stock_on_hand == 5, found and found.stock_on_hand)

        # Sales orders: single lines (POST), bulk with line items (POST and PUT upsert).
        start = TODAY - dt.timedelta(days=56)
        for d in range(56):
            day = dt.datetime.combine(start + dt.timedelta(days=d), dt.time(12, 0), tzinfo=dt.timezone.utc)
            r = await post_api_sales_orders_bulk.asyncio_detailed(
                client=client,
                body=SalesOrderWithLineItemsRequestDto(
                    order_date=day,
                    location_code="WH1",
                    customer_code="C-1",
                    customer_name="First customer",
                    sale_order_line_items=[
                        SalesOrderRequestDto(product_id="P-1", order_date=day, quantity=2, unit_price=9.99, external_reference_id=f"SO-{d}"),
                        SalesOrderRequestDto(product_id="P-2", order_date=day, quantity=1, external_reference_id=f"SO-{d}"),
                    ],
                ),
            )
            if r.status_code != 201:
                check(f"bulk sales order {d}", False, f"{r.status_code} {r.content[:300]!r}")
                break
        else:
            check("56 bulk sales orders (201)", True)
        single = await step(
            "POST SalesOrders",
            post_api_sales_orders.asyncio_detailed(
                client=client,
                body=SalesOrderRequestDto(
                    product_id="P-3",
                    order_date=dt.datetime(2026, 2, 20, 9, 0, tzinfo=dt.timezone.utc),
                    quantity=1,
                    external_reference_id="SINGLE-1",
                    location_code="STORE",
                ),
            ),
        )
        check("single sales order line (201)", single is not None and single.status_code == 201, single and single.status_code)
        put = await step(
            "sales_orders.create (PUT bulk upsert)",
            client.sales_orders.create(
                SalesOrderRequestDto(
                    product_id="P-3",
                    order_date=dt.datetime(2026, 2, 20, 9, 0, tzinfo=dt.timezone.utc),
                    quantity=3,
                    external_reference_id="SINGLE-1",
                    location_code="STORE",
                )
            ),
        )
        check("PUT upsert by externalReferenceId", put is not None and put.quantity == 3, put)
        lines = await step("sales_orders.get_for_product P-3", client.sales_orders.get_for_product("P-3"))
        check("one line of P-3 after the upsert", lines is not None and len(lines) == 1 and lines[0].quantity == 3, lines)
        lines = await step("sales_orders.get_for_product P-1", client.sales_orders.get_for_product("P-1"))
        check("56 lines of P-1 read back", lines is not None and len(lines) == 56, lines and len(lines))
        r = await step("DELETE SalesOrders?productId=P-3", delete_api_sales_orders.asyncio_detailed(client=client, product_id="P-3"))
        check("sales lines of a product deleted (200)", r is not None and r.status_code == 200, r and r.status_code)
        lines = await step("sales_orders.get_for_product P-3 after delete", client.sales_orders.get_for_product("P-3"))
        check("no line of P-3 left", lines == [], lines)

        # Customers.
        cust = await step("customers.get C-1", client.customers.get("C-1"))
        check("customer stored from the sales orders", cust is not None and cust.name == "First customer", cust)
        await step("customers.update", client.customers.update(CustomerDto(code="C-2", name="Second", city="Lyon")))
        allc = await step("customers.get_all", client.customers.get_all())
        check("two customers", allc is not None and len(allc) == 2, allc)

        # Bills of materials: P-2 is assembled from two P-3.
        r = await step(
            "POST boms",
            post_api_boms.asyncio_detailed(client=client, body=BillOfMaterialsRequestDto(product_id="P-2", component_id="P-3", quantity=2)),
        )
        check("bom line created (201)", r is not None and r.status_code == 201, r and r.status_code)
        r = await step("GET boms", get_api_boms.asyncio_detailed(client=client, product_id="P-2", component_id="P-3"))
        check("bom line read back", r is not None and r.parsed is not None and r.parsed.quantity == 2, r and r.content[:200])
        # The helpers' deletes unwrap an answer the swagger declares without a
        # body (201/204), which the client reports as an error: the generated
        # endpoint functions are used for deletes instead.
        r = await step("DELETE boms", delete_api_boms.asyncio_detailed(client=client, product_id="P-2", component_id="P-3"))
        check("bom line deleted (201)", r is not None and r.status_code == 201, r and r.status_code)
        r = await step("GET boms after delete", get_api_boms.asyncio_detailed(client=client, product_id="P-2", component_id="P-3"))
        check("bom line gone (404)", r is not None and r.status_code == 404, r and r.status_code)

        # Purchase orders (V1), statuses mapped.
        po = await step(
            "purchase_orders.create",
            client.purchase_orders.create(
                PurchaseOrderRequestDto(
                    reference_number="PO-1",
                    supplier=PurchaseOrderSupplier(supplier_code="GLOBEX"),
                    location=PurchaseOrderLocation(location_code="WH1"),
                    status=PurchaseOrderStatusDto.APPROVED,
                    purchase_order_line_items=[PurchaseOrderLineItem(product_id="P-2", quantity=5, unit_price=4)],
                )
            ),
        )
        check("purchase order created (Approved)", po is not None and po.reference_number == "PO-1" and po.status == PurchaseOrderStatusDto.APPROVED, po)
        got = await step("purchase_orders.find_by_reference", client.purchase_orders.find_by_reference("PO-1"))
        check("purchase order read back", got is not None and got.supplier.supplier_code == "GLOBEX", got)
        found = await step("products.find_by_code GADGET", client.products.find_by_code("P-2"))
        check("an approved purchase order is on order", found is not None and found.stock_on_order == 5, found and found.stock_on_order)
        v2 = await step("purchase_orders_v2.get_all_paginated", client.purchase_orders_v2.get_all_paginated(page=0, page_size=10))
        check("V2 lists the purchase order", v2 is not None and len(v2) == 1, v2)
        v2one = await step("purchase_orders_v2.get_by_reference", client.purchase_orders_v2.get_by_reference("PO-1"))
        check("V2 reads it by reference", v2one is not None and v2one.reference_number == "PO-1", v2one)

        # Forecast run, processing status, order plan, purchase orders from it.
        # forecasting.run_calculations unwraps the bodiless 201 the swagger
        # declares and reports it as an error; the endpoint function is used.
        r = await step("POST RunForecastCalculations", post_api_run_forecast_calculations.asyncio_detailed(client=client))
        check("forecast calculation started (201)", r is not None and r.status_code == 201, r and r.status_code)
        status = await step("forecasting.wait_for_completion", client.forecasting.wait_for_completion(poll_interval=1, timeout=120))
        check("processing finished", status is not None and not status.is_processing, status)
        items = await step("order_plan.query", client.order_plan.query(OrderPlanFilterCriteria()))
        check("order plan has the three products", items is not None and len(items) == 3, items and len(items))
        widget = next((i for i in items or [] if i.sku_code == "WIDGET"), None)
        check(
            "WIDGET needs ordering (2 a day, 5 on hand)",
            widget is not None and (widget.order_quantity or 0) > 0 and widget.stock_on_hand == 5,
            widget,
        )
        acme = await step("order_plan.query(supplier)", client.order_plan.query(OrderPlanFilterCriteria(supplier="ACME")))
        check("order plan filtered by supplier", acme is not None and [i.sku_code for i in acme] == ["WIDGET"], acme)
        pos = await step(
            "purchase_orders_v2.generate_from_order_plan",
            client.purchase_orders_v2.generate_from_order_plan(OrderPlanFilterCriteriaDto(supplier_codes=["ACME"])),
        )
        check(
            "a draft purchase order for ACME from the plan",
            pos is not None
            and len(pos) == 1
            and pos[0].status == PurchaseOrderStatusDto.DRAFT
            and pos[0].supplier.supplier_code == "ACME"
            and pos[0].purchase_order_line_items[0].product_id == "P-1"
            and pos[0].purchase_order_line_items[0].quantity == widget.order_quantity,
            pos,
        )
        drafts = await step(
            "V2 list drafts",
            client.purchase_orders_v2.get_all_paginated(page=0, page_size=10, status=PurchaseOrderStatusDto.DRAFT),
        )
        check("the draft is listed", drafts is not None and len(drafts) == 1, drafts)

        # Deletes.
        r = await step("DELETE PurchaseOrders", delete_api_purchase_orders.asyncio_detailed(client=client, reference_number="PO-1"))
        check("purchase order deleted (204)", r is not None and r.status_code == 204, r and r.status_code)
        gone = await step("purchase_orders.find_by_reference after delete", client.purchase_orders.find_by_reference("PO-1"))
        check("purchase order gone", gone is None, gone)
        r = await step("DELETE Products", delete_api_products.asyncio_detailed(client=client, product_id="P-3"))
        check("product deleted (200)", r is not None and r.status_code == 200, r and r.status_code)
        gone = await step("products.find_by_code after delete", client.products.find_by_code("P-3"))
        check("product gone", gone is None, gone)


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        sys.exit(2)
    base, email, password = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    try:
        _, _, key, unscoped = native_setup(base, email, password)
        raw_checks(base, key, unscoped)
        asyncio.run(run(base, key))
    except Exception as e:  # noqa: BLE001
        check("the run itself", False, f"{type(e).__name__}: {e}")
        traceback.print_exc()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not passed else 0)


if __name__ == "__main__":
    main()
