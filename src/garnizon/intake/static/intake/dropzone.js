// Progressive enhancement for the intake upload: dropping files anywhere on the
// zone puts them into the file input and lists their names. Without JavaScript
// the labelled file input works on its own.
(function () {
  "use strict";
  var zone = document.getElementById("dropzone");
  var input = document.getElementById("id_files");
  var list = document.getElementById("chosen");
  if (!zone || !input || !list) { return; }
  function show() {
    list.textContent = "";
    Array.prototype.forEach.call(input.files, function (file) {
      var li = document.createElement("li");
      li.textContent = file.name + " (" + Math.ceil(file.size / 1024) + " KB)";
      list.appendChild(li);
    });
  }
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) {
      event.preventDefault();
      zone.classList.add("over");
    });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () { zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      show();
    }
  });
  input.addEventListener("change", show);
})();
