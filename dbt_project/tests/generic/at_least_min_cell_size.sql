{#- Fails on every row whose count is below k (the var min_cell_size): small-cell disclosure. -#}
{% test at_least_min_cell_size(model, column_name) %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} is null or {{ column_name }} < {{ min_cell_size() }}

{% endtest %}
