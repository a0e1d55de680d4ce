{#-
    Money arithmetic that is exact to the cent. DuckDB turns a decimal divided by anything into
    a double, whose rounding can miss a half cent; these macros divide in integer cents and round
    half away from zero, then return decimal(18, 2).
-#}

{#- numerator_cents / denominator (> 0) in whole cents, rounded half away from zero. -#}
{% macro divide_cents(numerator_cents, denominator) -%}
    ({{ int_sign(numerator_cents) }}
        * {{ int_divide('2 * abs(' ~ numerator_cents ~ ') + (' ~ denominator ~ ')', '2 * (' ~ denominator ~ ')') }})
{%- endmacro %}

{#- A decimal amount as integer cents. -#}
{% macro to_cents(amount) -%}
    cast(round({{ amount }} * 100) as {{ cents_type() }})
{%- endmacro %}

{#- Integer cents back to decimal(18, 2). -#}
{% macro from_cents(cents) -%}
    cast(cast({{ cents }} as decimal(38, 0)) * 0.01 as decimal(18, 2))
{%- endmacro %}

{#- amount * part / whole to the cent; null when whole is 0 or null. -#}
{% macro prorate(amount, part, whole) -%}
    case
        when ({{ whole }}) > 0
            then {{ from_cents(divide_cents(to_cents(amount) ~ ' * (' ~ part ~ ')', whole)) }}
    end
{%- endmacro %}

{#- sum / count to the cent (an average of money amounts); null when count is 0. -#}
{% macro average_money(amount_sum, row_count) -%}
    {{ prorate(amount_sum, 1, row_count) }}
{%- endmacro %}
