// Live updates and charts. No build step: plain JavaScript, htmx and Chart.js served from /static.
(function () {
  "use strict";
  var status = function (text) {
    var el = document.getElementById("live-status");
    if (el) el.textContent = text;
  };

  function startLive() {
    if (!document.getElementById("live-status") || !window.EventSource) return;
    var body = document.getElementById("incident-body");
    var since = body && body.dataset.since ? "?after=" + encodeURIComponent(body.dataset.since) : "";
    var source = new EventSource("/live" + since);
    var pending = null;
    source.onopen = function () { status("Обновления в реальном времени включены."); };
    source.onerror = function () { status("Связь с сервером прервана, переподключение…"); };
    source.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if (event.type === "stream.closed") {
        source.close();
        status("Сеанс завершён: войдите снова.");
        return;
      }
      if (event.type && event.type.indexOf("alert.") === 0) {
        htmx.trigger(document.body, "refresh-alerts");
        status("Новый всплеск обращений.");
        return;
      }
      var open = document.getElementById("incident-body");
      if (open && event.incident_id && open.dataset.incident === event.incident_id) {
        htmx.trigger(document.body, "refresh-incident");
        status("Инцидент обновлён: " + event.type);
        return;
      }
      // Many events at once (a wave of posts): one refresh of the queue a second is enough.
      if (pending) return;
      pending = setTimeout(function () {
        pending = null;
        htmx.trigger(document.body, "refresh");
        status("Очередь обновлена: " + new Date().toLocaleTimeString("ru-RU"));
      }, 1000);
    };
  }

  function drawCharts() {
    var holder = document.getElementById("chart-data");
    if (!holder || !window.Chart) return;
    var data = JSON.parse(holder.textContent);
    var weeks = document.getElementById("chart-weeks");
    if (weeks) {
      new Chart(weeks, {
        type: "bar",
        data: {
          labels: data.weeks.labels,
          datasets: [
            { label: "Инцидентов", data: data.weeks.created, borderColor: "#1f4e79", backgroundColor: "#1f4e79" },
            { label: "Отвечено", data: data.weeks.answered, borderColor: "#7a5200", backgroundColor: "#7a5200" },
            { label: "В срок", data: data.weeks.on_time, borderColor: "#1b6e3a", backgroundColor: "#1b6e3a" }
          ]
        },
        options: { animation: false, responsive: true, maintainAspectRatio: false }
      });
    }
    var regions = document.getElementById("chart-regions");
    if (regions) {
      new Chart(regions, {
        type: "bar",
        data: {
          labels: data.regions.labels,
          datasets: [{
            label: "Доля ответов в срок, %",
            data: data.regions.on_time.map(function (v) { return v === null ? null : Math.round(v * 100); }),
            backgroundColor: "#1f4e79"
          }]
        },
        options: { animation: false, responsive: true, maintainAspectRatio: false, scales: { y: { min: 0, max: 100 } } }
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    startLive();
    drawCharts();
  });
})();
