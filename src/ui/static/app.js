/*
 * The dashboard page: one EventSource to /events. The first event is a snapshot (pipelines, the last
 * minutes of chart points, the latest dead letters); then a `tick` every second and `dead-letters` as they
 * are committed. The JSON shapes are those of src/ui/dashboard-state.ts. For tests, <main> counts what
 * arrived in data-points and data-dead-letters.
 */
import uPlot from '/vendor/uPlot.esm.js'

const MAX_TICKS = 300
const MAX_DEAD_LETTERS = 50
const COLOURS = ['#2563eb', '#db2777', '#16a34a', '#ea580c', '#7c3aed', '#0891b2', '#ca8a04', '#475569']

/** Each chart: a figure, and the point fields it draws per pipeline (a dash pattern for the second). */
const CHARTS = [
  {
    id: 'chart-throughput',
    fields: [
      { name: 'input', label: 'in/s' },
      { name: 'output', label: 'out/s', dash: [6, 4] },
    ],
  },
  {
    id: 'chart-latency',
    fields: [
      { name: 'p50', label: 'p50 ms' },
      { name: 'p99', label: 'p99 ms', dash: [6, 4] },
    ],
  },
  {
    id: 'chart-lag',
    fields: [
      { name: 'lag', label: 'records' },
      { name: 'lagBytes', label: 'bytes', dash: [2, 3] },
    ],
  },
  { id: 'chart-watermark', fields: [{ name: 'watermarkDelay', label: 's' }] },
]

const clock = (seconds) => new Date(seconds * 1000).toLocaleTimeString('en-GB')
const compact = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 })
const whole = new Intl.NumberFormat('en')

const main = document.getElementById('app')
const state = { pipelines: [], order: [], ticks: [], charts: new Map(), points: 0, deadLetters: 0 }

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(attributes)) {
    if (key === 'style') for (const [p, v] of Object.entries(value)) node.style.setProperty(p, v)
    else node.setAttribute(key, value)
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child)
  return node
}

function colour(id) {
  const i = state.order.indexOf(id)
  return COLOURS[Math.max(i, 0) % COLOURS.length]
}

// ---- Pipelines and their operator graphs ----

function stat(label, value, bad = false) {
  return el('span', { class: bad ? 'stat bad' : 'stat' }, `${label} `, el('b', {}, value))
}

function opBadges(pipeline, node, index) {
  const badges = []
  // Rows a sink refused carry the operator "sink" (or "sink:<table>"), not the sink step's id.
  const refused = (counts) =>
    Object.entries(counts)
      .filter(([operator]) => operator === 'sink' || operator.startsWith('sink:'))
      .reduce((n, [, count]) => n + count, 0)
  const letters =
    (pipeline.deadLettersByOperator[node.id] ?? 0) +
    (index === 0 ? (pipeline.deadLettersByOperator.source ?? 0) : 0) +
    (node.kind === 'sink' ? refused(pipeline.deadLettersByOperator) : 0)
  if (node.kind === 'source' && pipeline.last?.lag !== null && pipeline.last?.lag !== undefined) {
    const unit = pipeline.last.lagUnit === 'bytes' ? 'B' : ''
    badges.push(el('span', { class: 'badge' }, `lag ${compact.format(pipeline.last.lag)}${unit}`))
  }
  if (node.kind === 'sink') {
    badges.push(
      el(
        'span',
        { class: 'badge', 'data-sink-rows': pipeline.totals.outputRows },
        `${whole.format(pipeline.totals.outputRows)} rows`,
      ),
    )
  }
  if (letters > 0) badges.push(el('span', { class: 'badge bad' }, `${whole.format(letters)} dead letters`))
  return badges
}

function renderPipeline(pipeline) {
  const t = pipeline.totals
  const last = pipeline.last
  const head = el(
    'div',
    { class: 'pipeline-head' },
    el('h2', {}, pipeline.id),
    stat('batch', last ? whole.format(last.batchId) : '–'),
    stat('in', last ? `${compact.format(last.inputRowsPerSecond)}/s` : '–'),
    stat('read', whole.format(t.inputRows)),
    stat('written', whole.format(t.outputRows)),
    stat('dead-lettered', whole.format(t.deadLettered), t.deadLettered > 0),
    stat('late', whole.format(t.late)),
    stat('state', `${whole.format(last?.stateRows ?? 0)} keys`),
    stat('watermark', last?.watermark ? last.watermark.slice(11, 19) : '–'),
    t.sinkErrors > 0 ? stat('sink errors', whole.format(t.sinkErrors), true) : null,
  )
  const graph = el('div', { class: 'graph' })
  pipeline.graph.forEach((node, index) => {
    graph.append(
      el(
        'div',
        { class: `op ${node.kind}`, title: node.id },
        el('span', { class: 'kind' }, node.kind),
        el('span', { class: 'label' }, node.label || node.id),
        ...opBadges(pipeline, node, index),
      ),
    )
  })
  return el(
    'article',
    { class: 'pipeline', 'data-pipeline': pipeline.id, style: { '--colour': colour(pipeline.id) } },
    head,
    graph,
  )
}

function renderPipelines() {
  document.getElementById('pipelines').replaceChildren(...state.pipelines.map(renderPipeline))
  document
    .getElementById('legend')
    .replaceChildren(...state.order.map((id) => el('span', { style: { '--colour': colour(id) } }, id)))
}

// ---- Charts ----

function chartData(chart) {
  const xs = state.ticks.map((tick) => tick.t)
  const data = [xs]
  for (const id of state.order) {
    for (const field of chart.fields)
      data.push(state.ticks.map((tick) => tick.points[id]?.[field.name] ?? null))
  }
  return data
}

function chartSize(figure) {
  return { width: Math.max(200, figure.clientWidth - 16), height: 190 }
}

function buildCharts() {
  for (const plot of state.charts.values()) plot.destroy()
  state.charts.clear()
  for (const chart of CHARTS) {
    const figure = document.getElementById(chart.id)
    const series = [{}]
    for (const id of state.order) {
      for (const field of chart.fields) {
        series.push({
          label: `${id} ${field.label}`,
          stroke: colour(id),
          width: 2,
          dash: field.dash,
          spanGaps: false,
          points: { show: false },
        })
      }
    }
    const plot = new uPlot(
      {
        ...chartSize(figure),
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        // Zero stays in view; below it only when there are negative values (event time ahead of the clock).
        scales: {
          x: { time: true },
          y: { range: (_u, min, max) => [Math.min(0, min * 1.1), Math.max(1, max * 1.1)] },
        },
        axes: [
          { stroke: '#667085', grid: { stroke: '#eef0f4' }, values: (_u, splits) => splits.map(clock) },
          {
            stroke: '#667085',
            grid: { stroke: '#eef0f4' },
            size: 56,
            values: (_u, values) => values.map((v) => compact.format(v)),
          },
        ],
        series,
      },
      chartData(chart),
      figure,
    )
    state.charts.set(chart.id, plot)
  }
}

function updateCharts() {
  for (const chart of CHARTS) {
    const data = chartData(chart)
    state.charts.get(chart.id)?.setData(data)
    // What the chart holds, for tests and anyone inspecting the page.
    const figure = document.getElementById(chart.id)
    figure.dataset.points = String(data[0].length)
    figure.dataset.maxValue = String(
      Math.max(
        0,
        ...data
          .slice(1)
          .flat()
          .filter((v) => v !== null),
      ),
    )
  }
}

const resize = new ResizeObserver(() => {
  for (const chart of CHARTS)
    state.charts.get(chart.id)?.setSize(chartSize(document.getElementById(chart.id)))
})
for (const chart of CHARTS) resize.observe(document.getElementById(chart.id))

// ---- Dead letters ----

function deadLetterRow(d, fresh) {
  return el(
    'tr',
    { class: fresh ? 'new' : '', 'data-operator': d.operator },
    el('td', { title: d.at }, d.at.slice(11, 19)),
    el('td', {}, d.pipeline),
    el('td', {}, d.operator),
    el('td', { class: 'reason', title: d.reason }, el('span', {}, d.reason)),
    el('td', { class: 'source', title: `batch ${d.batchId}, key ${d.key ?? 'none'}` }, d.source),
    el('td', { class: 'raw', title: `${d.bytes} bytes` }, d.preview),
  )
}

function addDeadLetters(views, fresh) {
  const body = document.getElementById('dead-letter-rows')
  body.querySelector('tr.empty')?.remove()
  body.prepend(...views.map((d) => deadLetterRow(d, fresh)))
  while (body.rows.length > MAX_DEAD_LETTERS) body.deleteRow(-1)
  state.deadLetters += views.length
  main.dataset.deadLetters = String(state.deadLetters)
}

// ---- Events ----

function setPipelines(pipelines) {
  state.pipelines = pipelines
  const ids = pipelines.map((p) => p.id)
  const changed = ids.length !== state.order.length || ids.some((id, i) => id !== state.order[i])
  state.order = ids
  renderPipelines()
  if (changed) buildCharts()
}

function countPoints(tick) {
  if (Object.keys(tick.points).length > 0) state.points++
  main.dataset.points = String(state.points)
}

const status = document.getElementById('status')
const source = new EventSource('/events')
source.addEventListener('open', () => {
  status.dataset.state = 'live'
  status.textContent = 'live'
})
source.addEventListener('error', () => {
  status.dataset.state = 'lost'
  status.textContent = 'reconnecting…'
})
source.addEventListener('snapshot', (event) => {
  const snapshot = JSON.parse(event.data)
  state.ticks = snapshot.ticks.slice(-MAX_TICKS)
  state.order = []
  setPipelines(snapshot.pipelines)
  document.getElementById('dead-letter-rows').replaceChildren()
  state.deadLetters = 0
  if (snapshot.deadLetters.length > 0) addDeadLetters(snapshot.deadLetters, false)
  else
    document
      .getElementById('dead-letter-rows')
      .append(el('tr', { class: 'empty' }, el('td', { colspan: 6 }, 'None yet.')))
})
source.addEventListener('tick', (event) => {
  const { tick, pipelines } = JSON.parse(event.data)
  state.ticks.push(tick)
  if (state.ticks.length > MAX_TICKS) state.ticks.splice(0, state.ticks.length - MAX_TICKS)
  setPipelines(pipelines)
  updateCharts()
  countPoints(tick)
})
source.addEventListener('dead-letters', (event) => addDeadLetters(JSON.parse(event.data), true))
