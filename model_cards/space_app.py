"""Gradio demo of an emotion-hub model: the `app.py` that `python -m model_cards.space` writes into a Space folder.

The model is loaded with `transformers.pipeline(..., trust_remote_code=True)` from `MODEL_ID` (a Hub repository id
or a local folder; the environment variable `MODEL_ID` overrides it), so the model's own code runs here and no
package of ours is needed. `TASK` picks the inputs: a text box (text), an upload + microphone (voice), an upload +
webcam (faces) or a dialogue editor (conversations); the label scores show as a bar chart (`gr.Label`).

Run it locally with `python app.py` (http://127.0.0.1:7860; `GRADIO_SERVER_PORT` / `GRADIO_SERVER_NAME` change it).
The app makes no network call of its own: analytics are off and no share link is requested.
"""

import inspect
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from transformers import pipeline  # noqa: E402


MODEL_ID = os.environ.get("MODEL_ID", "__MODEL_ID__")
TASK = "__TASK__"  # text | voice | face | erc
TITLE = "__TITLE__"
EXAMPLES = __EXAMPLES__
PIPELINE_TASKS = {"text": "text-classification", "voice": "audio-classification", "face": "image-classification",
                  "erc": "emotion-recognition-in-conversation"}

classifier = pipeline(PIPELINE_TASKS[TASK], model=MODEL_ID, trust_remote_code=True)
LABELS = list(classifier.model.config.id2label.values())


def scores(outputs):
    """`{label: score}` for `gr.Label` from a pipeline's `[{"label", "score"}, ...]`."""
    if outputs and isinstance(outputs[0], list):  # a batch of one
        outputs = outputs[0]
    return {item["label"]: float(item["score"]) for item in outputs}


def classify_text(text):
    if not text or not text.strip():
        raise gr.Error("Type a sentence first.")
    return scores(classifier(text, top_k=None))


def classify_voice(audio):
    if audio is None:
        raise gr.Error("Upload or record a clip first.")
    rate, data = audio  # gr.Audio(type="numpy"): int16 PCM, (samples,) or (samples, channels)
    data = np.asarray(data)
    if np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max + 1)
    if data.ndim == 2:
        data = data.mean(axis=1)
    return scores(classifier({"raw": data.astype(np.float32), "sampling_rate": int(rate)}, top_k=len(LABELS)))


def classify_face(image):
    if image is None:
        raise gr.Error("Upload a photo or take one with the webcam first.")
    return scores(classifier(image, top_k=len(LABELS)))


def classify_dialogue(table):
    rows = table.values.tolist() if hasattr(table, "values") else list(table or [])
    turns = [{"speaker": str(speaker).strip() or "A", "utterance": str(utterance).strip()}
             for speaker, utterance in rows if str(utterance or "").strip()]
    if not turns:
        raise gr.Error("Write at least one turn (speaker, utterance); the last turn is classified.")
    return scores(classifier(turns, top_k=len(LABELS)))


with gr.Blocks(title=TITLE) as demo:
    gr.Markdown(f"# {TITLE}\nModel: `{MODEL_ID}` · labels: {', '.join(LABELS)}")
    with gr.Row():
        with gr.Column():
            if TASK == "text":
                inputs = gr.Textbox(label="Text", lines=3, placeholder="How do you feel today?")
                function = classify_text
            elif TASK == "voice":
                inputs = gr.Audio(label="Speech", sources=["upload", "microphone"], type="numpy")
                function = classify_voice
            elif TASK == "face":
                inputs = gr.Image(label="Face", sources=["upload", "webcam"], type="pil")
                function = classify_face
            else:  # gradio 6 renamed col_count to column_count
                columns = "column_count" if "column_count" in inspect.signature(gr.Dataframe).parameters else "col_count"
                inputs = gr.Dataframe(label="Dialogue (the last turn is classified)", headers=["speaker", "utterance"],
                                      datatype=["str", "str"], row_count=3, interactive=True,
                                      value=EXAMPLES[0] if EXAMPLES else [["A", ""], ["B", ""], ["A", ""]],
                                      **{columns: (2, "fixed")})
                function = classify_dialogue
            button = gr.Button("Classify", variant="primary")
        with gr.Column():
            output = gr.Label(label="Emotion scores", num_top_classes=len(LABELS))
    if EXAMPLES and TASK == "text":
        gr.Examples(examples=[[e] for e in EXAMPLES], inputs=inputs)
    button.click(function, inputs=inputs, outputs=output, api_name="classify")
    if TASK == "text":
        inputs.submit(function, inputs=inputs, outputs=output)


if __name__ == "__main__":
    # System fonts: the default theme would fetch Google Fonts, which an offline machine cannot reach.
    demo.launch(share=False, theme=gr.themes.Default(font=["system-ui", "sans-serif"],
                                                     font_mono=["ui-monospace", "monospace"]))
