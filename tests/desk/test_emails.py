"""E-mail templates: rendered in a sandbox, values escaped in the HTML part, problems named
by line or by name, the built-in template fitting the customer's reasons."""

from __future__ import annotations

import pytest

from winback.desk.emails import SAMPLE_CONTEXT, default_template, preview, render_email
from winback.errors import InvalidInput


def test_the_default_template_fits_the_reason_and_carries_the_code_and_the_link() -> None:
    delivery = preview(default_template(), {"reasons": ["delivery"]})
    price = preview(default_template(), {"reasons": ["price"], "code": ""})
    assert delivery.subject == "Alex Example, we would love to have you back at Acme Coffee"
    assert "late or damaged delivery" in delivery.text
    assert "COMEBACK15" in delivery.text
    assert "prices matter" in price.text
    assert "late or damaged" not in price.text
    assert "Use the code" not in price.text
    link = SAMPLE_CONTEXT["unsubscribe_url"]
    assert link in delivery.text
    assert f'<a href="{link}">' in delivery.html


def test_values_are_escaped_in_the_html_part() -> None:
    mail = render_email(
        "Subject: Hi {{ customer_name }}\n\nHello {{ customer_name }}, see {{ unsubscribe_url }}",
        {"customer_name": "<script>x</script> & Co", "unsubscribe_url": "https://a.test/u?x=1&y=2"},
    )
    assert mail.subject == "Hi <script>x</script> & Co"
    assert "Hello <script>x</script> & Co" in mail.text
    assert "<script>" not in mail.html
    assert "&lt;script&gt;x&lt;/script&gt; &amp; Co" in mail.html
    assert '<a href="https://a.test/u?x=1&amp;y=2">' in mail.html


@pytest.mark.parametrize(
    ("template", "named"),
    [
        ("Hello", "line 1: start with the subject"),
        ("Subject: hi\n\nHello {{ customer_nme }}", "customer_nme"),
        ("Subject: hi\n\nline two\n{% if %}", "template line 4"),
        ("Subject: hi\n\n{{ ''.__class__.__mro__ }}", "not allowed"),
        ("Subject: hi\n\n{{ reasons.append(1) }}", "not allowed"),
        ("Subject: hi\n\n{% for i in range(9999) %}{{ customer_name * 50 }}{% endfor %}", "long"),
        ("Subject: {{ nobody }}\n\nHello", "subject"),
        ("Subject: hi\n\n", "body is empty"),
    ],
)
def test_a_bad_template_is_refused_naming_the_problem(template: str, named: str) -> None:
    with pytest.raises(InvalidInput, match=named):
        preview(template)
