// The review workspace's one script: tell the server when an answer starts playing (the event log's
// "answer.played", which a decision checks), with the session's CSRF token.
document.addEventListener("DOMContentLoaded", () => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  for (const video of document.querySelectorAll("video[data-played-url]")) {
    let told = false;
    video.addEventListener("play", () => {
      if (told) return;
      told = true;
      fetch(video.dataset.playedUrl, { method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" })
        .then((answer) => { if (answer.ok) video.dataset.logged = "yes"; });
    });
  }
});
