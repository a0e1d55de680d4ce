{#- Fails on every row where the SQL expression is not true (null counts as a failure). -#}
{% test expression_is_true(model, expression, column_name=none) %}

select 1 as failing_row
from {{ model }}
where not coalesce(({{ expression }}), false)

{% endtest %}
