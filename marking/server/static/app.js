// The page of the public detection tool (issue 18): pick or drop a file (or give an address),
// send it to the API, show the verdict in plain words, each mark's details, and take feedback.
// Plain browser JavaScript, no framework, no build step, and nothing loaded from elsewhere.
"use strict";

(() => {
  const MAX_COMMENT = 2000;
  const BEYOND = 1e15; // "less than 1 in 1,000,000,000,000,000" past this

  // --- strings -----------------------------------------------------------------------------
  // Every string the page shows, in each language. Functions take the values they name.
  const STRINGS = {
    en: {
      pageTitle: "AI mark checker",
      skip: "Skip to the checker",
      brand: "aigc-marking",
      langLabel: "Language",
      title: "Check a file for AI marks",
      intro:
        "Upload a picture, a recording or a video. The checker looks for every mark an AI " +
        "provider can add: the invisible watermark, the GB 45438 metadata label, the IPTC " +
        "source type and a signed C2PA manifest.",
      privacy:
        "Your file is deleted as soon as the answer is sent. The answer holds system " +
        "provenance only, never personal data.",
      pickHeading: "Choose a file",
      fileLabel: "File to check",
      dropMain: "Choose a file",
      dropSub: "or drop it here",
      limits: (size) => `Pictures, recordings and videos, up to ${size}.`,
      urlLabel: "Or check a file on the web (its address)",
      urlPlaceholder: "https://…",
      urlSubmit: "Check address",
      urlMissing: "Type the address of a file first (starting with http:// or https://).",
      verifying: (name) => `Verifying ${name}… this takes a few seconds.`,
      done: (name) => `Checked ${name}.`,
      resultHeading: "Result",
      resultFor: (name) => `Result for ${name}`,
      marked: "AI marks found",
      unmarked: "No AI mark found",
      notChecked: "The file could not be checked",
      kinds: { image: "picture", audio: "recording", video: "video" },
      fileLine: (kind, size, secs) => `${kind}, ${size}, checked in ${secs} s`,
      sureHeading: "How sure",
      oneIn: (n) => `about 1 in ${n}`,
      beyond: "less than 1 in 1,000,000,000,000,000",
      sureMarked:
        "That is how often a file with no watermark would show a match this strong by " +
        "chance (every key tried is counted). The smaller, the surer.",
      sureNoWatermark: "not applicable: no watermark was found",
      sureUnmarkedExplain:
        "The checker never claims a mark that is not there. A file can still be AI-made " +
        "without marks, or have lost them (cropped hard, re-recorded, metadata stripped).",
      sureMetadataOnly:
        "Metadata labels are read as written; anyone can write them, so only a trusted " +
        "signer or the watermark backs them.",
      detailsHeading: "What was found",
      agreementHeading: "Do the marks agree?",
      notesHeading: "Notes",
      noNotes: "No notes.",
      notesInEnglish: "",
      // marks
      watermarkHeading: "Invisible watermark",
      framesHeading: "In the frames",
      soundHeading: "In the sound",
      found: "found",
      notFound: "not found",
      notLooked: (why) => `not looked for${why ? `: ${why}` : ""}`,
      fPresent: "Present",
      fPayload: "Payload (64-bit code it carries)",
      fFalseAlarm: "Chance of a false alarm",
      fKey: "Key",
      fKeysTried: "Keys tried (counted in the chance above)",
      fScore: "Match strength",
      sigma: (s) => `${s} standard deviations`,
      keyNames: {
        public: "the public key (anyone can check it)",
        provider: "this provider's secret key",
      },
      gbHeading: "Metadata label (GB 45438)",
      gbAbsent: "No GB 45438 label.",
      gbFields: {
        Label: "Label",
        ContentProducer: "Made by (service provider)",
        ProduceID: "Producer's content ID",
        ReservedCode1: "Producer's reserved field",
        ContentPropagator: "Distributed by",
        PropagateID: "Distributor's content ID",
        ReservedCode2: "Distributor's reserved field",
      },
      gbLabels: {
        1: "AI-generated",
        2: "possibly AI-generated",
        3: "suspected to be AI-generated",
      },
      iptcHeading: "IPTC digital source type",
      iptcAbsent: "No IPTC source type.",
      iptcNames: {
        trainedAlgorithmicMedia: "made by a trained AI model",
        compositeWithTrainedAlgorithmicMedia: "a composite that includes AI-generated parts",
        algorithmicMedia: "made by an algorithm without training data",
        compositeSynthetic: "a composite that includes synthetic parts",
        algorithmicallyEnhanced: "enhanced by an algorithm",
        digitalCapture: "captured by a camera or recorder",
        digitalCreation: "made by a person with software",
        composite: "a composite of several sources",
        screenCapture: "a screen capture",
        minorHumanEdits: "captured, with minor human edits",
        humanEdits: "captured, then edited by a person",
        virtualRecording: "a recording of a virtual event",
        dataDrivenMedia: "made from data",
      },
      c2paHeading: "C2PA manifest",
      fState: "State",
      c2paStates: {
        absent: "absent: the file has no C2PA manifest",
        valid: "valid: intact, and signed by a signer this server trusts",
        untrusted: "intact, but the signer is not on this server's trust list",
        invalid: "invalid: the manifest or the file changed after signing",
        unreadable: "unreadable: the manifest could not be read",
      },
      fReason: "Why",
      fSigner: "Signer (organisation)",
      fFirstAction: "First action",
      fAiSource: "AI source type",
      fSoftBinding: "Watermark payload it names",
      fTimestamp: "Time-stamped",
      actions: {
        "c2pa.created": "created",
        "c2pa.edited": "edited",
        "c2pa.opened": "opened",
        "c2pa.converted": "converted",
        "c2pa.placed": "placed",
        "c2pa.watermarked": "watermarked",
      },
      actionBy: (what, by) => `${what} by ${by}`,
      actionAt: (what, when) => `${what} at ${when}`,
      yes: "yes",
      no: "no",
      agreements: {
        agree:
          "They agree: the marks carry the same code, and a signer this server trusts " +
          "vouches for them.",
        consistent:
          "They are consistent: the watermark carries the code the metadata label implies, " +
          "but nothing vouches for the label (anyone can write metadata).",
        mismatch:
          "They do not match: the marks carry different codes, so they come from different " +
          "files, or one was copied or altered.",
        "watermark missing":
          "Only the metadata says AI: no watermark backs it (it may have been removed, or " +
          "the label copied from another file).",
        "metadata missing":
          "Only the watermark says AI: the metadata label is missing (it is often stripped " +
          "when a file is re-saved or shared).",
        "n/a": "Nothing to compare: fewer than two marks with a code were found.",
      },
      backedBy: (signer, marks) => `Backed by the trusted signer "${signer}": ${marks}.`,
      notBacked: "Not backed by a trusted signer.",
      markNames: {
        "metadata label": "metadata label",
        "IPTC source type": "IPTC source type",
        "C2PA manifest": "C2PA manifest",
        watermark: "watermark",
      },
      listJoin: ", ",
      feedbackHeading: "Was this result right?",
      feedbackLegend: "Do you agree with this result?",
      feedbackAgree: "Yes, I agree",
      feedbackDisagree: "No, I disagree",
      feedbackComment: "Comment (optional)",
      feedbackCount: (n) => `${n} of ${MAX_COMMENT} characters`,
      feedbackSubmit: "Send feedback",
      feedbackChoose: "Choose agree or disagree first.",
      feedbackSending: "Sending…",
      feedbackThanks: "Thank you: your feedback was stored.",
      verdictRef: "Reference of this result:",
      footer: "Free detection tool of aigc-marking. Works without any outside service.",
      version: (v) => `Version ${v}`,
      // errors
      errorPrefix: {
        400: "The request was not accepted",
        404: "Not available",
        408: "It took too long",
        413: "The file is too large",
        415: "Not a picture, recording or video",
        422: "The file could not be read",
        429: "The server is busy",
        502: "The address could not be fetched",
      },
      errorOther: "Something went wrong",
      retryAfter: (s) => `try again in ${s} s`,
      tooLarge: (size) => `The file is too large: this server takes files up to ${size}.`,
      unreachable: "The server could not be reached. Check your connection and try again.",
      infoFailed: "Could not read the server's settings; uploads may still work.",
    },
    zh: {
      pageTitle: "AI 标识检测",
      skip: "跳到检测工具",
      brand: "aigc-marking",
      langLabel: "语言",
      title: "检测文件中的 AI 生成标识",
      intro:
        "上传图片、音频或视频。本工具查找 AI 服务提供者可添加的全部标识：隐式水印、" +
        "GB 45438 元数据标识、IPTC 来源类型和带签名的 C2PA 清单。",
      privacy: "结果返回后，您的文件立即删除。结果只包含系统来源信息，从不包含个人信息。",
      pickHeading: "选择文件",
      fileLabel: "要检测的文件",
      dropMain: "选择文件",
      dropSub: "或拖放到这里",
      limits: (size) => `图片、音频和视频，最大 ${size}。`,
      urlLabel: "或检测网上的文件（输入地址）",
      urlPlaceholder: "https://…",
      urlSubmit: "检测地址",
      urlMissing: "请先输入文件地址（以 http:// 或 https:// 开头）。",
      verifying: (name) => `正在检测 ${name}……需要几秒钟。`,
      done: (name) => `已检测 ${name}。`,
      resultHeading: "检测结果",
      resultFor: (name) => `${name} 的检测结果`,
      marked: "发现 AI 生成标识",
      unmarked: "未发现 AI 生成标识",
      notChecked: "无法检测该文件",
      kinds: { image: "图片", audio: "音频", video: "视频" },
      fileLine: (kind, size, secs) => `${kind}，${size}，检测用时 ${secs} 秒`,
      sureHeading: "可信程度",
      oneIn: (n) => `约${n}分之一`,
      beyond: "低于千万亿分之一",
      sureMarked:
        "即没有水印的文件偶然出现这样强的匹配的概率（已计入尝试过的所有密钥）。" +
        "数值越小，结果越可靠。",
      sureNoWatermark: "不适用：未发现水印",
      sureUnmarkedExplain:
        "本工具从不报告不存在的标识。文件仍可能是 AI 生成但没有标识，或标识已丢失" +
        "（大幅裁剪、重新录制、元数据被删除）。",
      sureMetadataOnly:
        "元数据标识按原样读取；任何人都能写入元数据，只有受信任的签名或水印才能为其担保。",
      detailsHeading: "发现的标识",
      agreementHeading: "各标识是否一致？",
      notesHeading: "说明",
      noNotes: "无。",
      notesInEnglish: "（说明由服务器以英文给出）",
      watermarkHeading: "隐式水印",
      framesHeading: "画面中",
      soundHeading: "声音中",
      found: "已发现",
      notFound: "未发现",
      notLooked: (why) => `未检测${why ? `：${why}` : ""}`,
      fPresent: "是否存在",
      fPayload: "载荷（所携带的 64 位编码）",
      fFalseAlarm: "误报概率",
      fKey: "密钥",
      fKeysTried: "尝试的密钥数（已计入上面的概率）",
      fScore: "匹配强度",
      sigma: (s) => `${s} 个标准差`,
      keyNames: {
        public: "公开密钥（任何人都可检测）",
        provider: "本服务提供者的私有密钥",
      },
      gbHeading: "元数据标识（GB 45438）",
      gbAbsent: "没有 GB 45438 标识。",
      gbFields: {
        Label: "标识（Label）",
        ContentProducer: "生成合成服务提供者",
        ProduceID: "内容制作编号",
        ReservedCode1: "生成方预留字段",
        ContentPropagator: "内容传播服务提供者",
        PropagateID: "内容传播编号",
        ReservedCode2: "传播方预留字段",
      },
      gbLabels: {
        1: "属于 AI 生成合成内容",
        2: "可能为 AI 生成合成内容",
        3: "疑似为 AI 生成合成内容",
      },
      iptcHeading: "IPTC 数字来源类型",
      iptcAbsent: "没有 IPTC 来源类型。",
      iptcNames: {
        trainedAlgorithmicMedia: "由经过训练的 AI 模型生成",
        compositeWithTrainedAlgorithmicMedia: "包含 AI 生成部分的合成内容",
        algorithmicMedia: "由算法生成（无训练数据）",
        compositeSynthetic: "包含合成部分的合成内容",
        algorithmicallyEnhanced: "经算法增强",
        digitalCapture: "由相机或录音设备拍摄录制",
        digitalCreation: "由人使用软件制作",
        composite: "由多个来源合成",
        screenCapture: "屏幕截图或录屏",
        minorHumanEdits: "拍摄录制，经少量人工编辑",
        humanEdits: "拍摄录制后经人工编辑",
        virtualRecording: "虚拟事件的录制",
        dataDrivenMedia: "由数据生成",
      },
      c2paHeading: "C2PA 清单",
      fState: "状态",
      c2paStates: {
        absent: "不存在：文件没有 C2PA 清单",
        valid: "有效：完整，且签名者受本服务信任",
        untrusted: "完整，但签名者不在本服务的信任列表中",
        invalid: "无效：签名后清单或文件被改动",
        unreadable: "无法读取：清单无法解析",
      },
      fReason: "原因",
      fSigner: "签名者（机构）",
      fFirstAction: "首个操作",
      fAiSource: "AI 来源类型",
      fSoftBinding: "清单所指的水印载荷",
      fTimestamp: "带时间戳",
      actions: {
        "c2pa.created": "创建",
        "c2pa.edited": "编辑",
        "c2pa.opened": "打开",
        "c2pa.converted": "转换",
        "c2pa.placed": "置入",
        "c2pa.watermarked": "加水印",
      },
      actionBy: (what, by) => `${what}（由 ${by}）`,
      actionAt: (what, when) => `${what}，时间 ${when}`,
      yes: "是",
      no: "否",
      agreements: {
        agree: "一致：各标识携带相同的编码，并由本服务信任的签名者担保。",
        consistent:
          "相符：水印携带的编码与元数据标识相符，但没有签名为元数据担保（任何人都能写入元数据）。",
        mismatch: "不一致：各标识携带的编码不同，可能来自不同文件，或某个标识被复制或篡改。",
        "watermark missing":
          "只有元数据表明是 AI 生成：没有水印为其佐证" +
          "（水印可能已被去除，或标识是从其他文件复制的）。",
        "metadata missing":
          "只有水印表明是 AI 生成：缺少元数据标识（文件重新保存或分享时常被删除）。",
        "n/a": "无可比较：带编码的标识少于两个。",
      },
      backedBy: (signer, marks) => `受信任的签名者“${signer}”担保：${marks}。`,
      notBacked: "没有受信任的签名者担保。",
      markNames: {
        "metadata label": "元数据标识",
        "IPTC source type": "IPTC 来源类型",
        "C2PA manifest": "C2PA 清单",
        watermark: "水印",
      },
      listJoin: "、",
      feedbackHeading: "这个结果对吗？",
      feedbackLegend: "您是否同意这个结果？",
      feedbackAgree: "同意",
      feedbackDisagree: "不同意",
      feedbackComment: "意见（可选）",
      feedbackCount: (n) => `${n} / ${MAX_COMMENT} 字`,
      feedbackSubmit: "提交反馈",
      feedbackChoose: "请先选择同意或不同意。",
      feedbackSending: "正在提交……",
      feedbackThanks: "谢谢！您的反馈已保存。",
      verdictRef: "本次结果编号：",
      footer: "aigc-marking 的免费检测工具，不依赖任何外部服务。",
      version: (v) => `版本 ${v}`,
      errorPrefix: {
        400: "请求未被接受",
        404: "不可用",
        408: "用时过长",
        413: "文件太大",
        415: "不是图片、音频或视频",
        422: "无法读取该文件",
        429: "服务器繁忙",
        502: "无法获取该地址",
      },
      errorOther: "出现错误",
      retryAfter: (s) => `请在 ${s} 秒后重试`,
      tooLarge: (size) => `文件太大：本服务接受的文件最大为 ${size}。`,
      unreachable: "无法连接服务器。请检查网络后重试。",
      infoFailed: "无法读取服务器设置；上传可能仍然可用。",
    },
  };

  // --- state and helpers -------------------------------------------------------------------
  const state = {
    lang: "en",
    info: null,
    record: null, // the last verify record shown
    status: null, // [key, ...args] of the status line
    error: null, // {status, message, retryAfter} or {key, args}
    feedback: null, // [key] of the feedback status line
    feedbackError: null, // server message when feedback failed
    busy: false,
  };

  const $ = (id) => document.getElementById(id);

  function t(key, ...args) {
    const value = STRINGS[state.lang][key];
    return typeof value === "function" ? value(...args) : value;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) {
        node.append(typeof child === "string" ? document.createTextNode(child) : child);
      }
    }
    return node;
  }

  function locale() {
    return state.lang === "zh" ? "zh-CN" : "en";
  }

  /** A byte count in plain units ("50 MB"). */
  function formatBytes(bytes) {
    const units = ["B", "KB", "MB", "GB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    const digits = value < 10 && unit > 0 ? 1 : 0;
    return `${value.toLocaleString(locale(), { maximumFractionDigits: digits })} ${units[unit]}`;
  }

  /** N of "about 1 in N" for a false-alarm probability: 1/p to two significant figures, at
   * least 2 (also for what is not a probability: never a reassurance), null past 10^15. The
   * server's summary words it the same way (marking/server/records.py, one_in). */
  function roundedN(p) {
    if (typeof p !== "number" || !Number.isFinite(p) || !(p >= 0 && p < 0.5)) return 2;
    if (p === 0 || 1 / p > BEYOND) return null;
    const n = 1 / p;
    const digits = Math.floor(Math.log10(n));
    const step = digits < 1 ? 1 : 10 ** (digits - 1);
    return Math.max(2, roundHalfEven(n / step) * step);
  }

  /** Python's round(): halves go to the even neighbour. */
  function roundHalfEven(x) {
    const floor = Math.floor(x);
    const rest = x - floor;
    if (rest !== 0.5) return Math.round(x);
    return floor % 2 === 0 ? floor : floor + 1;
  }

  /** A number the Chinese way: 万, 亿 and 万亿 units (430万, 24亿). */
  function zhNumber(n) {
    for (const [unit, size] of [["万亿", 1e12], ["亿", 1e8], ["万", 1e4]]) {
      if (n >= size) return `${Number((n / size).toPrecision(6))}${unit}`;
    }
    return n < 10 ? "二三四五六七八九"[n - 2] : n.toLocaleString("en");
  }

  /** A false-alarm probability in words: "about 1 in 4,300,000", "约430万分之一". */
  function oneIn(p) {
    const n = roundedN(p);
    if (n === null) return t("beyond");
    return t("oneIn", state.lang === "zh" ? zhNumber(n) : n.toLocaleString("en"));
  }

  /** The last path segment of an IPTC digital source type URI (the code name). */
  function iptcCode(uri) {
    return String(uri).replace(/\/+$/, "").split("/").pop();
  }

  function iptcText(uri) {
    const code = iptcCode(uri);
    const name = t("iptcNames")[code];
    return name ? `${name} (${code})` : code;
  }

  function markName(name) {
    return t("markNames")[name] || name;
  }

  // --- static text and language ------------------------------------------------------------
  function applyStaticText() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    document.title = t("pageTitle");
    for (const node of document.querySelectorAll("[data-i18n]")) {
      node.textContent = t(node.dataset.i18n);
    }
    for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
      node.placeholder = t(node.dataset.i18nPlaceholder);
    }
    $("lang-en").setAttribute("aria-pressed", String(state.lang === "en"));
    $("lang-zh").setAttribute("aria-pressed", String(state.lang === "zh"));
  }

  function setLanguage(lang, remember) {
    state.lang = lang === "zh" ? "zh" : "en";
    if (remember) {
      const url = new URL(window.location.href);
      url.searchParams.set("lang", state.lang);
      window.history.replaceState(null, "", url);
    }
    renderAll();
  }

  function initialLanguage() {
    const asked = new URLSearchParams(window.location.search).get("lang");
    if (asked === "zh" || asked === "en") return asked;
    const preferred = navigator.languages && navigator.languages.length
      ? navigator.languages[0]
      : navigator.language || "en";
    return /^zh\b/i.test(preferred) ? "zh" : "en";
  }

  function renderAll() {
    applyStaticText();
    renderInfo();
    renderStatus();
    renderError();
    if (state.record) renderResult(state.record);
    renderFeedbackStatus();
    renderCommentCount();
  }

  function renderInfo() {
    const info = state.info;
    const limit = info && info.max_upload_bytes ? formatBytes(info.max_upload_bytes) : null;
    $("limits").textContent = limit ? t("limits", limit) : "";
    $("url-form").hidden = !(info && info.url_fetch);
    $("version").textContent = info && info.version ? t("version", info.version) : "";
  }

  function renderStatus() {
    $("status").textContent = state.status ? t(...state.status) : "";
  }

  function renderError() {
    const box = $("error");
    const error = state.error;
    if (!error) {
      box.textContent = "";
      box.hidden = true;
      return;
    }
    let text;
    if (error.key) {
      text = t(error.key, ...(error.args || []));
    } else {
      const prefix = t("errorPrefix")[error.status] || t("errorOther");
      const message = String(error.message || "").split(/\r?\n/)[0];
      text = message ? `${prefix}: ${message}` : prefix;
      if (error.retryAfter) text += ` (${t("retryAfter", error.retryAfter)})`;
    }
    box.textContent = text;
    box.hidden = false;
  }

  // --- result ------------------------------------------------------------------------------
  function field(list, term, value, attrs) {
    if (value === null || value === undefined || value === "") return;
    list.append(el("dt", null, term), el("dd", attrs || null, value));
  }

  function watermarkFields(list, mark, withKey) {
    field(list, t("fPresent"), mark.detected ? t("found") : t("notFound"));
    if (mark.detected) {
      field(list, t("fPayload"), el("code", null, mark.payload || ""));
      field(list, t("fFalseAlarm"), oneIn(mark.false_alarm));
      if (withKey && mark.key) field(list, t("fKey"), t("keyNames")[mark.key] || mark.key);
      if (withKey && mark.keys_tried > 1) field(list, t("fKeysTried"), String(mark.keys_tried));
    }
    // The score of a file without a watermark is noise: shown only for a mark found.
    if (mark.detected && typeof mark.score === "number") {
      field(list, t("fScore"), t("sigma", mark.score.toFixed(1)));
    }
  }

  function markBlock(heading, className) {
    const block = el("section", { class: `mark ${className}` });
    const h = el("h4", null, heading);
    block.append(h);
    return block;
  }

  function watermarkBlock(record) {
    const mark = record.watermark;
    const block = markBlock(t("watermarkHeading"), "mark-watermark");
    const list = el("dl");
    block.append(list);
    if (!mark || mark.checked === false) {
      field(list, t("fPresent"), t("notLooked", mark && mark.reason));
      return block;
    }
    watermarkFields(list, mark, true);
    if (record.kind === "video") {
      for (const [part, heading] of [["video", "framesHeading"], ["audio", "soundHeading"]]) {
        const sub = mark[part];
        if (sub === undefined) continue;
        const subBlock = el("div", { class: `sub sub-${part}` }, el("h5", null, t(heading)));
        const subList = el("dl");
        subBlock.append(subList);
        if (!sub || sub.checked === false) {
          field(subList, t("fPresent"), t("notLooked", sub && sub.reason));
        } else {
          watermarkFields(subList, sub, false);
        }
        block.append(subBlock);
      }
    }
    return block;
  }

  function gbBlock(record) {
    const block = markBlock(t("gbHeading"), "mark-gb");
    const label = record.aigc;
    if (!label) {
      block.append(el("p", null, t("gbAbsent")));
      return block;
    }
    const list = el("dl");
    for (const [name, term] of Object.entries(t("gbFields"))) {
      let value = label[name];
      if (name === "Label" && value) {
        const meaning = t("gbLabels")[value];
        value = meaning ? `${value}: ${meaning}` : value;
      }
      field(list, term, value);
    }
    block.append(list);
    return block;
  }

  function iptcBlock(record) {
    const block = markBlock(t("iptcHeading"), "mark-iptc");
    const uri = record.iptc_digital_source_type;
    block.append(el("p", null, uri ? iptcText(uri) : t("iptcAbsent")));
    return block;
  }

  function actionText(action) {
    if (!action) return null;
    if (typeof action === "string") return t("actions")[action] || action;
    let text = t("actions")[action.action] || action.action || "";
    const agent = action.softwareAgent;
    const by = agent && (typeof agent === "string" ? agent : [agent.name, agent.version]
      .filter(Boolean).join(" "));
    if (by) text = t("actionBy", text, by);
    if (action.when) text = t("actionAt", text, action.when);
    return text;
  }

  function c2paBlock(record) {
    const block = markBlock(t("c2paHeading"), "mark-c2pa");
    const c2pa = record.c2pa || { state: "absent" };
    const list = el("dl");
    field(list, t("fState"), t("c2paStates")[c2pa.state] || c2pa.state);
    if (c2pa.state !== "absent") {
      field(list, t("fReason"), c2pa.reason, { lang: "en" });
      field(list, t("fSigner"), c2pa.signer_organization);
      field(list, t("fFirstAction"), actionText(c2pa.first_action));
      if (c2pa.digital_source_type) field(list, t("fAiSource"), iptcText(c2pa.digital_source_type));
      if (c2pa.soft_binding_payload) {
        field(list, t("fSoftBinding"), el("code", null, c2pa.soft_binding_payload));
      }
      if (c2pa.aigc && c2pa.aigc.Label) {
        const level = c2pa.aigc.Label;
        const meaning = t("gbLabels")[level];
        field(list, t("gbFields").Label, meaning ? `${level}: ${meaning}` : level);
      }
      field(list, t("fTimestamp"), c2pa.timestamped
        ? (c2pa.timestamp_time ? `${t("yes")} (${c2pa.timestamp_time})` : t("yes"))
        : t("no"));
    }
    block.append(list);
    return block;
  }

  function renderSureness(record) {
    const mark = record.watermark || {};
    const out = $("false-alarm");
    const explain = $("sure-explain");
    if (mark.detected) {
      out.textContent = oneIn(mark.false_alarm);
      explain.textContent = t("sureMarked");
    } else {
      out.textContent = t("sureNoWatermark");
      explain.textContent = record.ai_marked ? t("sureMetadataOnly") : t("sureUnmarkedExplain");
    }
  }

  function renderResult(record) {
    const name = record.input || "";
    $("result-heading").textContent = name ? t("resultFor", name) : t("resultHeading");
    const kind = t("kinds")[record.kind] || record.kind || "";
    const secs = typeof record.seconds === "number"
      ? record.seconds.toLocaleString(locale(), { maximumFractionDigits: 1 })
      : "?";
    $("file-line").textContent = typeof record.bytes === "number"
      ? t("fileLine", kind, formatBytes(record.bytes), secs)
      : kind;

    const verified = record.status === undefined || record.status === "verified";
    const verdict = $("verdict");
    verdict.textContent = !verified ? t("notChecked") : record.ai_marked ? t("marked")
      : t("unmarked");
    verdict.className = `verdict ${record.ai_marked ? "is-marked" : "is-unmarked"}`;

    const summary = record.summary && (record.summary[state.lang] || record.summary.en);
    const summaryBox = $("summary");
    summaryBox.textContent = summary || record.verdict || record.reason || "";
    if (record.summary && record.summary[state.lang]) summaryBox.removeAttribute("lang");
    else summaryBox.lang = "en";

    renderSureness(record);

    const details = $("details");
    details.replaceChildren(watermarkBlock(record), gbBlock(record), iptcBlock(record),
      c2paBlock(record));

    const agreements = t("agreements");
    $("agreement").textContent = agreements[record.agreement] || record.agreement || "";
    const backed = (record.backed || []).map(markName).join(t("listJoin"));
    $("backing").textContent = record.trusted_signer
      ? t("backedBy", record.trusted_signer, backed)
      : record.ai_marked ? t("notBacked") : "";

    const notes = $("notes");
    const items = (record.notes || []).map((note) => el("li", { lang: "en" }, note));
    if (items.length && state.lang === "zh") items.push(el("li", null, t("notesInEnglish")));
    notes.replaceChildren(...(items.length ? items : [el("li", null, t("noNotes"))]));

    const feedbackOn = !(state.info && state.info.feedback === false);
    $("feedback-form").hidden = !feedbackOn || !record.verdict_id;
    $("verdict-id").textContent = record.verdict_id || "";
    $("result").hidden = false;
  }

  // --- uploads -----------------------------------------------------------------------------
  async function readError(response) {
    let message = "";
    try {
      const body = await response.json();
      message = body && body.error ? String(body.error) : "";
    } catch (_) {
      message = "";
    }
    return {
      status: response.status,
      message,
      retryAfter: response.headers.get("Retry-After"),
    };
  }

  function resetFeedback() {
    state.feedback = null;
    state.feedbackError = null;
    for (const id of ["feedback-agree", "feedback-disagree"]) $(id).checked = false;
    $("feedback-comment").value = "";
    for (const id of ["feedback-agree", "feedback-disagree", "feedback-comment",
      "feedback-submit"]) {
      $(id).disabled = false;
    }
    renderFeedbackStatus();
    renderCommentCount();
  }

  // aria-disabled rather than disabled: a disabled button would drop the keyboard focus.
  function setBusy(busy) {
    state.busy = busy;
    for (const id of ["drop-zone", "url-submit"]) {
      $(id).setAttribute("aria-disabled", String(busy));
    }
    $("result").setAttribute("aria-busy", String(busy));
  }

  /** Send a request that answers with a verify record, then show the record or the error. */
  async function verify(name, send) {
    if (state.busy) return;
    setBusy(true);
    state.error = null;
    state.record = null;
    state.status = ["verifying", name];
    $("result").hidden = true;
    renderError();
    renderStatus();
    try {
      const response = await send();
      if (!response.ok) {
        state.error = await readError(response);
        state.status = null;
        return;
      }
      state.record = await response.json();
      state.status = ["done", state.record.input || name];
      resetFeedback();
      renderResult(state.record);
      $("result-heading").focus();
    } catch (_) {
      state.error = { key: "unreachable" };
      state.status = null;
    } finally {
      setBusy(false);
      renderStatus();
      renderError();
    }
  }

  function verifyFile(file) {
    if (!file) return;
    const limit = state.info && state.info.max_upload_bytes;
    if (limit && file.size > limit) {
      state.record = null;
      $("result").hidden = true;
      state.status = null;
      state.error = { key: "tooLarge", args: [formatBytes(limit)] };
      renderStatus();
      renderError();
      return;
    }
    const form = new FormData();
    form.append("file", file, file.name);
    verify(file.name, () => fetch("/api/v1/verify", { method: "POST", body: form }));
  }

  function verifyUrl(event) {
    event.preventDefault();
    const url = $("url-input").value.trim();
    if (!/^https?:\/\/\S+$/i.test(url)) {
      state.error = { key: "urlMissing" };
      renderError();
      $("url-input").focus();
      return;
    }
    verify(url, () => fetch("/api/v1/verify-url", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ url }),
    }));
  }

  // --- feedback ----------------------------------------------------------------------------
  function renderFeedbackStatus() {
    const box = $("feedback-status");
    if (!state.feedback) {
      box.textContent = "";
      box.className = "feedback-status";
      return;
    }
    let text = t(state.feedback);
    if (state.feedbackError) {
      const prefix = t("errorPrefix")[state.feedbackError.status] || t("errorOther");
      text = state.feedbackError.message ? `${prefix}: ${state.feedbackError.message}` : prefix;
    }
    box.textContent = text;
    box.className = `feedback-status${state.feedbackError ? " is-error" : ""}`;
  }

  function renderCommentCount() {
    $("feedback-count").textContent = t("feedbackCount", $("feedback-comment").value.length);
  }

  async function sendFeedback(event) {
    event.preventDefault();
    const record = state.record;
    if (!record || !record.verdict_id) return;
    const agree = $("feedback-agree").checked;
    const disagree = $("feedback-disagree").checked;
    state.feedbackError = null;
    if (!agree && !disagree) {
      state.feedback = "feedbackChoose";
      renderFeedbackStatus();
      $("feedback-agree").focus();
      return;
    }
    const comment = $("feedback-comment").value.slice(0, MAX_COMMENT);
    state.feedback = "feedbackSending";
    renderFeedbackStatus();
    $("feedback-submit").disabled = true;
    try {
      const response = await fetch("/api/v1/feedback", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ verdict_id: record.verdict_id, agrees: agree, comment }),
      });
      if (response.ok) {
        state.feedback = "feedbackThanks";
        for (const id of ["feedback-agree", "feedback-disagree", "feedback-comment"]) {
          $(id).disabled = true;
        }
      } else {
        state.feedback = "errorOther";
        state.feedbackError = await readError(response);
        $("feedback-submit").disabled = false;
      }
    } catch (_) {
      state.feedback = "unreachable";
      $("feedback-submit").disabled = false;
    }
    renderFeedbackStatus();
  }

  // --- wiring ------------------------------------------------------------------------------
  function wireDropZone() {
    const zone = $("drop-zone");
    const input = $("file-input");
    zone.addEventListener("click", () => {
      if (!state.busy) input.click();
    });
    input.addEventListener("change", () => {
      const file = input.files && input.files[0];
      verifyFile(file);
      input.value = "";
    });
    for (const type of ["dragenter", "dragover"]) {
      zone.addEventListener(type, (event) => {
        event.preventDefault();
        zone.classList.add("is-over");
      });
    }
    for (const type of ["dragleave", "dragend"]) {
      zone.addEventListener(type, () => zone.classList.remove("is-over"));
    }
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("is-over");
      const files = event.dataTransfer && event.dataTransfer.files;
      if (files && files.length && !state.busy) verifyFile(files[0]);
    });
    // A file dropped next to the zone would make the browser open it and leave the page.
    for (const type of ["dragover", "drop"]) {
      window.addEventListener(type, (event) => event.preventDefault());
    }
  }

  async function loadInfo() {
    try {
      const response = await fetch("/api/v1/info", { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(String(response.status));
      state.info = await response.json();
    } catch (_) {
      state.info = null;
      if (!state.error) state.error = { key: "infoFailed" };
    }
    renderInfo();
    renderError();
    document.body.dataset.ready = "true";
  }

  function start() {
    state.lang = initialLanguage();
    $("lang-en").addEventListener("click", () => setLanguage("en", true));
    $("lang-zh").addEventListener("click", () => setLanguage("zh", true));
    wireDropZone();
    $("url-form").addEventListener("submit", verifyUrl);
    $("feedback-form").addEventListener("submit", sendFeedback);
    $("feedback-comment").addEventListener("input", renderCommentCount);
    renderAll();
    loadInfo();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
