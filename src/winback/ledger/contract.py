"""The data contract: the tables a business hands winback, in one place.

This module is the single source of truth. The importer checks files against it, the
simulator writes it, the scan reads it, and ``docs/data-contract.md`` is generated from it
(``winback contract --markdown``; a test fails when the two differ).

Column kinds and how a file's text is read into them:

=========  ==================  ==========================================================
kind       stored as           accepted text
=========  ==================  ==========================================================
id         VARCHAR             any non-blank text; surrounding spaces trimmed
text       VARCHAR             anything; blank is missing
category   VARCHAR             one of the listed values (case-insensitive, spaces → _)
date       DATE                ISO ``YYYY-MM-DD`` by default, or the file's detected or
                               mapped format (``%Y%m%d``, ``%d/%m/%Y`` …); a timestamp is
                               cut to its date; years 1900 to 2199 (``DATE_RANGE``)
timestamp  TIMESTAMP           ISO date-time; a bare date is midnight; years as for date
money      DECIMAL(18,2)       a decimal number (``1234.50``); a leading currency symbol
                               and ``1,234.50``-style thousands separators are accepted
integer    BIGINT              a whole number
number     DOUBLE              a decimal number
boolean    BOOLEAN             true/false, yes/no, y/n, 1/0, t/f
=========  ==================  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from winback.errors import ContractError

Kind = Literal[
    "id", "text", "category", "date", "timestamp", "money", "integer", "number", "boolean"
]

# Dates a business can mean. Outside it a value is a typo or a placeholder (0000-01-01,
# 9999-12-31): Python cannot hold year 0, and a far-future order would make every
# customer look active for ever. Checked at import; the ledger's reads drop what an older
# version stored outside it (winback.ledger.store).
DATE_RANGE = (date(1900, 1, 1), date(2199, 12, 31))

SQL_TYPES: dict[str, str] = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "category": "VARCHAR",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "money": "DECIMAL(18,2)",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
}


@dataclass(frozen=True)
class Column:
    """One column of a contract table."""

    name: str
    kind: Kind
    description: str
    required: bool = False
    synonyms: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.kind]


@dataclass(frozen=True)
class Table:
    """One table of the contract: its columns, natural key and what winback uses it for."""

    name: str
    description: str
    used_for: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    synonyms: tuple[str, ...] = field(default=())

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise ContractError(
            f"table {self.name} has no column {name!r}; its columns are "
            + ", ".join(c.name for c in self.columns)
        )

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


def _id(name: str, description: str, *synonyms: str, required: bool = True) -> Column:
    return Column(name, "id", description, required=required, synonyms=synonyms)


_CUSTOMER_ID = _id(
    "customer_id",
    "The business's own customer identifier.",
    "customer",
    "cust_id",
    "customer_number",
    "customer_no",
    "account_id",
    "account",
    "client_id",
)
_STAFF_ID = _id(
    "staff_id",
    "Who on the staff dealt with it (a staff.staff_id).",
    "rep_id",
    "agent_id",
    "employee_id",
    "user_id",
    "owner_id",
    "sales_rep",
    required=False,
)

INCIDENT_TYPES = (
    "late_delivery",
    "wrong_item",
    "billing_error",
    "rude_service",
    "price_rise",
    "quality_problem",
    "competitor_offer",
    "outage",
    "other",
)
INTERACTION_CHANNELS = ("ticket", "call", "email", "chat", "visit", "note", "social", "other")
MARKETING_EVENTS = ("sent", "opened", "clicked", "unsubscribed", "bounced", "converted")
STAFF_ROLES = ("rep", "service", "manager", "executive", "other")
# Orders that count as purchases everywhere (the scan, a case's value before leaving, the
# revenue since a win-back): cancelled and refunded ones do not; a blank status counts.
COUNTED_ORDER_STATUSES = ("completed", "pending")


def counted_order_sql(status: str = "status") -> str:
    """SQL true for an order counted as a purchase (``status`` names the status column)."""
    listed = ", ".join(f"'{s}'" for s in COUNTED_ORDER_STATUSES)
    return f"({status} IS NULL OR {status} IN ({listed}))"


OUTCOMES = (
    "won_back",
    "will_return",
    "declined",
    "unreachable",
    "not_pursued",
    "returned_unprompted",
)

CUSTOMERS = Table(
    name="customers",
    description="One row per customer or account.",
    used_for="Names and contact details on the desk; segment for segment-level buying "
    "cycles and win-back odds; signup date as the start of the customer's history when it "
    "predates the first order; the account owner as the first choice for a case.",
    key=("customer_id",),
    synonyms=("customer", "clients", "accounts"),
    columns=(
        _CUSTOMER_ID,
        Column(
            "name",
            "text",
            "Person or company name.",
            synonyms=("customer_name", "full_name", "company_name"),
        ),
        Column(
            "email",
            "text",
            "Contact e-mail; also the identity key for Shopify exports.",
            synonyms=("e_mail", "email_address", "mail"),
        ),
        Column(
            "phone", "text", "Contact telephone.", synonyms=("telephone", "phone_number", "tel")
        ),
        Column(
            "segment",
            "text",
            "The business's own segment (retail, SMB, enterprise …).",
            synonyms=("customer_segment", "tier", "group"),
        ),
        Column(
            "account_type",
            "category",
            "What kind of relationship this is.",
            values=("consumer", "business", "subscription"),
        ),
        Column(
            "signup_date",
            "date",
            "When the customer relationship began.",
            synonyms=("created_at", "created", "first_seen", "customer_since", "join_date"),
        ),
        Column("country", "text", "Country name or code.", synonyms=("country_code",)),
        Column("region", "text", "Region, state or province.", synonyms=("state", "province")),
        Column(
            "owner_staff_id",
            "id",
            "The staff member who owns the account.",
            required=False,
            synonyms=("owner", "account_manager", "account_owner"),
        ),
    ),
)

ORDERS = Table(
    name="orders",
    description="One row per order (a purchase occasion).",
    used_for="Everything behavioural: buying cycle, recency, frequency and spend for the "
    "lapse rules and the customer-base models; revenue and margin for profitability and "
    "lifetime value; who took the order for case assignment; red-carpet count-down.",
    key=("order_id",),
    synonyms=("order", "transactions", "purchases", "sales"),
    columns=(
        _id(
            "order_id",
            "The business's order identifier.",
            "order",
            "order_number",
            "order_no",
            "transaction_id",
            "invoice_number",
            "name",
        ),
        _CUSTOMER_ID,
        Column(
            "order_date",
            "date",
            "When the order was placed.",
            required=True,
            synonyms=("date", "ordered_at", "purchase_date", "transaction_date", "created_at"),
        ),
        Column(
            "amount",
            "money",
            "Order value in the business's currency, after discounts.",
            required=True,
            minimum=0,
            synonyms=(
                "total",
                "value",
                "revenue",
                "order_total",
                "dollar_value",
                "sales",
                "total_price",
            ),
        ),
        Column(
            "margin",
            "money",
            "Gross margin on the order, when known (else a default margin rate applies).",
            synonyms=("profit", "gross_margin", "gross_profit"),
        ),
        Column(
            "quantity",
            "integer",
            "Number of items.",
            minimum=0,
            synonyms=("qty", "items", "units", "number_of_cds"),
        ),
        Column(
            "currency",
            "text",
            "ISO currency code, when the file carries several.",
            synonyms=("currency_code",),
        ),
        Column(
            "channel",
            "text",
            "Where the order came from (web, store, phone, rep …).",
            synonyms=("source", "sales_channel"),
        ),
        _STAFF_ID,
        Column(
            "status",
            "category",
            "Order state. A counted order (a purchase for the scan, a case's value, the "
            "revenue since a win-back, the red carpet and `winback ledger`) is one with a "
            f"status blank, {' or '.join(f'`{s}`' for s in COUNTED_ORDER_STATUSES)}; "
            "cancelled and refunded orders do not count.",
            values=("completed", "cancelled", "refunded", "pending"),
        ),
        Column(
            "discount_code",
            "text",
            "The discount code the customer used on the order, if any: a win-back "
            "campaign's single-use code counts the offer as redeemed (once).",
            synonyms=("coupon_code", "promo_code", "voucher_code", "discount_codes"),
        ),
    ),
)

ORDER_LINES = Table(
    name="order_lines",
    description="Optional: the lines of each order.",
    used_for="Category mix and product-level reasons (a quality problem with one product line).",
    key=("order_id", "line_number"),
    synonyms=("lines", "order_items", "line_items"),
    columns=(
        _id("order_id", "The order this line belongs to.", "order", "order_number"),
        Column(
            "line_number",
            "integer",
            "Position of the line in the order.",
            required=True,
            minimum=0,
            synonyms=("line", "line_no", "position"),
        ),
        Column(
            "product_id",
            "id",
            "Product or SKU.",
            required=False,
            synonyms=("sku", "product", "item_id", "lineitem_sku"),
        ),
        Column(
            "product_name",
            "text",
            "Product description.",
            synonyms=("description", "item_name", "lineitem_name"),
        ),
        Column("category", "text", "Product category.", synonyms=("product_category",)),
        Column(
            "quantity",
            "integer",
            "Units on the line.",
            minimum=0,
            synonyms=("qty", "units", "lineitem_quantity"),
        ),
        Column(
            "amount",
            "money",
            "Line value after discounts.",
            minimum=0,
            synonyms=("line_total", "total", "lineitem_price"),
        ),
    ),
)

INTERACTIONS = Table(
    name="interactions",
    description="Support tickets, calls, e-mails, chats, visits and notes.",
    used_for="Who dealt with the customer (case assignment); sentiment and unresolved "
    "problems (reasons and worth); how often the customer contacts the business compared "
    "with peers; evidence of rudeness to staff; the customer-360 timeline.",
    key=("interaction_id",),
    synonyms=("tickets", "contacts", "support", "activities"),
    columns=(
        _id(
            "interaction_id",
            "Identifier of the ticket, call or message.",
            "ticket_id",
            "id",
            "activity_id",
            "contact_id",
        ),
        _CUSTOMER_ID,
        Column(
            "occurred_at",
            "timestamp",
            "When it happened.",
            required=True,
            synonyms=("date", "created_at", "timestamp", "opened_at"),
        ),
        Column(
            "channel",
            "category",
            "How it happened.",
            required=True,
            values=INTERACTION_CHANNELS,
            synonyms=("type", "medium"),
        ),
        Column("direction", "category", "Who started it.", values=("inbound", "outbound")),
        _STAFF_ID,
        Column("subject", "text", "Subject or summary.", synonyms=("title", "summary")),
        Column(
            "sentiment",
            "number",
            "Sentiment from -1 (angry) to 1 (delighted).",
            minimum=-1,
            maximum=1,
            synonyms=("sentiment_score", "score"),
        ),
        Column(
            "tags",
            "text",
            "Semicolon-separated tags (complaint; refund; escalation …).",
            synonyms=("labels",),
        ),
        Column(
            "resolved",
            "boolean",
            "Whether the customer's problem was solved.",
            synonyms=("is_resolved", "solved"),
        ),
        Column(
            "customer_rude",
            "boolean",
            "The staff member recorded that the customer was rude or abusive.",
            synonyms=("rude", "abusive"),
        ),
    ),
)

INCIDENTS = Table(
    name="incidents",
    description="Mistakes the business made that touched a customer.",
    used_for="Recent mistakes the customer suffered: a reason to reach out, an apology that "
    "names what went wrong, and a weight in the worth decision.",
    key=("incident_id",),
    synonyms=("mistakes", "problems", "service_failures"),
    columns=(
        _id("incident_id", "Identifier of the incident.", "id"),
        _CUSTOMER_ID,
        Column(
            "occurred_on",
            "date",
            "When it happened.",
            required=True,
            synonyms=("date", "occurred_at", "created_at"),
        ),
        Column(
            "type",
            "category",
            "What went wrong.",
            required=True,
            values=INCIDENT_TYPES,
            synonyms=("incident_type", "kind", "category"),
        ),
        Column(
            "severity",
            "integer",
            "1 (minor) to 5 (severe).",
            minimum=1,
            maximum=5,
            synonyms=("level", "priority"),
        ),
        Column("description", "text", "What happened, in words.", synonyms=("details", "notes")),
        Column("order_id", "id", "The order concerned, if any.", required=False),
        Column(
            "resolved_on",
            "date",
            "When the business put it right, if it did.",
            synonyms=("resolved_at", "closed_on"),
        ),
    ),
)

MARKETING_EVENTS_TABLE = Table(
    name="marketing_events",
    description="Marketing sends and the customer's responses.",
    used_for="The 'no response to marketing for N months' rule, and engagement decay as a "
    "signal for who will follow suit.",
    key=("customer_id", "campaign_id", "event", "occurred_at"),
    synonyms=("marketing", "email_events", "campaign_events"),
    columns=(
        _CUSTOMER_ID,
        _id("campaign_id", "The mailing or campaign.", "campaign", "mailing_id", "message_id"),
        Column(
            "event",
            "category",
            "What happened.",
            required=True,
            values=MARKETING_EVENTS,
            synonyms=("event_type", "action", "type"),
        ),
        Column(
            "occurred_at",
            "timestamp",
            "When.",
            required=True,
            synonyms=("date", "timestamp", "event_time"),
        ),
        Column("channel", "text", "E-mail, SMS, post …", synonyms=("medium",)),
    ),
)

INVOICES = Table(
    name="invoices",
    description="Invoices with their due and paid dates (payments recorded on the invoice).",
    used_for="Whether the customer pays on time or late: an intangible in the worth decision; "
    "for a subscriber, a payment past due or late is a contract risk.",
    key=("invoice_id",),
    synonyms=("payments", "billing", "bills"),
    columns=(
        _id("invoice_id", "Identifier of the invoice.", "invoice", "invoice_number", "id"),
        _CUSTOMER_ID,
        Column(
            "issued_on",
            "date",
            "When the invoice was issued.",
            required=True,
            synonyms=("invoice_date", "issued_at", "date"),
        ),
        Column(
            "due_on", "date", "When payment was due.", required=True, synonyms=("due_date", "due")
        ),
        Column(
            "amount",
            "money",
            "Amount invoiced.",
            required=True,
            minimum=0,
            synonyms=("total", "invoice_amount"),
        ),
        Column(
            "paid_on",
            "date",
            "When it was paid; blank while unpaid.",
            synonyms=("paid_date", "payment_date", "paid_at"),
        ),
        Column("paid_amount", "money", "Amount paid.", minimum=0, synonyms=("amount_paid",)),
        Column("order_id", "id", "The order invoiced, if any.", required=False),
    ),
)

RETURNS = Table(
    name="returns",
    description="Goods the customer sent back.",
    used_for="Return rate against peers: abuse of returns is an intangible in the worth "
    "decision; a return reason can be a reason for leaving.",
    key=("return_id",),
    synonyms=("refunds", "rmas"),
    columns=(
        _id("return_id", "Identifier of the return.", "rma", "rma_id", "id"),
        _CUSTOMER_ID,
        Column(
            "returned_on",
            "date",
            "When the goods came back.",
            required=True,
            synonyms=("date", "return_date", "created_at"),
        ),
        Column(
            "amount",
            "money",
            "Value refunded.",
            required=True,
            minimum=0,
            synonyms=("refund", "refund_amount", "value"),
        ),
        Column("order_id", "id", "The order returned from.", required=False),
        Column(
            "reason",
            "text",
            "Why, in the customer's or the business's words.",
            synonyms=("return_reason",),
        ),
    ),
)

STAFF = Table(
    name="staff",
    description="The people who deal with customers.",
    used_for="Case assignment (who dealt with the customer before), the executive tier, and "
    "rep incentives.",
    key=("staff_id",),
    synonyms=("employees", "users", "reps", "agents"),
    columns=(
        _id(
            "staff_id",
            "Identifier used in orders and interactions.",
            "id",
            "employee_id",
            "user_id",
            "rep_id",
        ),
        Column("name", "text", "Full name.", required=True, synonyms=("full_name", "staff_name")),
        Column("email", "text", "Work e-mail.", synonyms=("email_address",)),
        Column(
            "role",
            "category",
            "What the person does.",
            required=True,
            values=STAFF_ROLES,
            synonyms=("title", "position", "job"),
        ),
        Column("team", "text", "Team or region.", synonyms=("department", "group")),
        Column(
            "active",
            "boolean",
            "Still working here (default yes).",
            synonyms=("is_active", "enabled"),
        ),
    ),
)

SUBSCRIPTIONS = Table(
    name="subscriptions",
    description="Contracts that renew: one row per subscription period or contract.",
    used_for="Contractual retention (sBG): survival by cohort, the expected remaining "
    "lifetime and the value of a subscriber; a cancellation is an explicit lapse, and its "
    "reason a verified reason in the reasons report. A running contract with nothing past "
    "due keeps its subscriber active whatever the gaps between orders.",
    key=("subscription_id",),
    synonyms=("contracts", "memberships", "plans"),
    columns=(
        _id("subscription_id", "Identifier of the subscription.", "contract_id", "id"),
        _CUSTOMER_ID,
        Column("plan", "text", "The plan or product subscribed to.", synonyms=("product", "tier")),
        Column(
            "started_on",
            "date",
            "Start of the subscription.",
            required=True,
            synonyms=("start_date", "start", "started_at"),
        ),
        Column(
            "ended_on",
            "date",
            "When it ended; blank while it runs.",
            synonyms=("end_date", "cancelled_on", "cancelled_at", "churn_date"),
        ),
        Column(
            "period_months",
            "integer",
            "Length of one renewal period in months (1 = monthly, 12 = yearly).",
            minimum=1,
            synonyms=("billing_period", "term_months"),
        ),
        Column("price", "money", "Price of one period.", minimum=0, synonyms=("amount", "fee")),
        Column(
            "cancel_reason",
            "text",
            "Why it was cancelled, in the customer's words.",
            synonyms=("churn_reason", "reason"),
        ),
    ),
)

PUBLIC_POSTS = Table(
    name="public_posts",
    description="Public posts that name the business: reviews, blog posts, social media.",
    used_for="Public complaints caught and routed to the customer's case owner.",
    key=("post_id",),
    synonyms=("mentions", "posts", "reviews"),
    columns=(
        _id("post_id", "Identifier of the post.", "id", "url"),
        Column(
            "posted_at",
            "timestamp",
            "When it was published.",
            required=True,
            synonyms=("date", "published_at", "created_at"),
        ),
        Column(
            "source",
            "text",
            "Where (review site, blog, a social network).",
            required=True,
            synonyms=("site", "platform", "channel"),
        ),
        Column("author", "text", "The author's name or handle.", synonyms=("handle", "user")),
        _id(
            "customer_id",
            "The customer, when the business has matched the author.",
            "customer",
            required=False,
        ),
        Column("url", "text", "Link to the post.", synonyms=("link",)),
        Column("text", "text", "What it says.", synonyms=("content", "body", "message")),
        Column("sentiment", "number", "-1 (angry) to 1 (delighted).", minimum=-1, maximum=1),
    ),
)

WINBACK_OUTCOMES = Table(
    name="winback_outcomes",
    description="What came of each win-back attempt. Written by the desk; also importable "
    "from a program run elsewhere.",
    used_for="Learning win-back odds: the scan starts from a 20-40% prior by segment and "
    "updates it from these outcomes once there are enough.",
    key=("outcome_id",),
    synonyms=("outcomes",),
    columns=(
        _id("outcome_id", "Identifier of the outcome record.", "id"),
        _CUSTOMER_ID,
        Column(
            "recorded_on",
            "date",
            "When the outcome was recorded.",
            required=True,
            synonyms=("date",),
        ),
        Column(
            "outcome",
            "category",
            "What happened.",
            required=True,
            values=OUTCOMES,
            synonyms=("result",),
        ),
        Column("segment", "text", "The customer's segment at the time.", synonyms=()),
        Column(
            "tier",
            "category",
            "How the customer was approached.",
            values=("executive", "rep", "campaign", "holdout"),
        ),
        Column(
            "offer",
            "text",
            "The offer made (price_break, coupon, guarantee, plus_extra …).",
            synonyms=("offer_type",),
        ),
        Column("reason", "text", "The main verified reason the customer had left.", synonyms=()),
        Column("contacted", "boolean", "Whether anyone reached the customer before the outcome."),
        Column(
            "value_before", "money", "The customer's yearly revenue before they left.", minimum=0
        ),
    ),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        CUSTOMERS,
        ORDERS,
        ORDER_LINES,
        INTERACTIONS,
        INCIDENTS,
        MARKETING_EVENTS_TABLE,
        INVOICES,
        RETURNS,
        STAFF,
        SUBSCRIPTIONS,
        PUBLIC_POSTS,
        WINBACK_OUTCOMES,
    )
}


def table(name: str) -> Table:
    """The contract table called ``name`` (or one of its synonyms)."""
    wanted = name.strip().lower().replace("-", "_")
    for t in TABLES.values():
        if wanted == t.name or wanted in t.synonyms:
            return t
    raise ContractError(f"unknown table {name!r}; winback knows " + ", ".join(TABLES))


def arrow_schema(name: str) -> Any:
    """The Arrow schema of the contract table ``name``, columns in contract order (money
    as exact decimals)."""
    import pyarrow as pa

    types = {
        "id": pa.string(),
        "text": pa.string(),
        "category": pa.string(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("s"),
        "money": pa.decimal128(18, 2),
        "integer": pa.int64(),
        "number": pa.float64(),
        "boolean": pa.bool_(),
    }
    return pa.schema([pa.field(c.name, types[c.kind]) for c in TABLES[name].columns])
